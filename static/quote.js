// Quoting by selection (CSP-safe: no inline script or style attributes).
// - Text selected within one passage of the article offers "Discuss this passage": the
//   top-level composer gets the passage's anchor and the words (the server checks they are the
//   passage's); signed out, the passage's own composer page opens with them.
// - Text selected within one reply's body offers "Quote": the composer (that reply's reply form
//   when it is open, else the top-level one) gets it as a Markdown quote linking to the reply.
// The button sits in the page right after what it acts on, so Tab reaches it from there.
"use strict";

(() => {
  const PASSAGE = ".article-body [id^='p-']";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "floating-action";
  button.hidden = true;
  /** What the button acts on: {kind: "passage"|"reply", element, text}. */
  let offer = null;

  // A passage's tools (discuss link, count): inside a list item, right after anything else.
  function toolsOf(passage) {
    const next = passage.nextElementSibling;
    if (next?.matches(".passage-tools")) return next;
    return passage.querySelector(":scope > .passage-tools");
  }

  function elementOf(node) {
    return node && node.nodeType === Node.ELEMENT_NODE ? node : node?.parentElement;
  }

  // The one passage or reply body the selection lies within, with the words selected.
  function selected() {
    const selection = document.getSelection();
    if (!selection || selection.isCollapsed || !selection.rangeCount) return null;
    const range = selection.getRangeAt(0);
    const start = elementOf(range.startContainer);
    const end = elementOf(range.endContainer);
    const passage = start?.closest(PASSAGE);
    if (passage && passage === end?.closest(PASSAGE)) {
      // The passage's own words only: not its "discuss" link or count.
      const words = range.cloneContents();
      for (const tools of words.querySelectorAll(".passage-tools")) tools.remove();
      const text = words.textContent.replace(/\s+/g, " ").trim();
      return text ? { kind: "passage", element: passage, text, range } : null;
    }
    const body = start?.closest(".reply-body");
    if (body && body === end?.closest(".reply-body") && composerFor(body)) {
      const text = selection.toString().trim();
      return text ? { kind: "reply", element: body, text, range } : null;
    }
    return null;
  }

  // Where a quote of this reply goes: its own reply form when open, else the top-level one
  // (none when signed out, or on a reply's page with no form open: no "Quote" then).
  function composerFor(replyBody) {
    const reply = replyBody.closest(".reply");
    if (!reply) return null;
    const id = reply.id.replace("reply-", "");
    const form =
      document.getElementById(`reply-form-${id}`) || document.getElementById("reply-form-top");
    return form?.querySelector("textarea[name=body]") || null;
  }

  function show(found) {
    offer = found;
    if (found.kind === "passage") {
      button.textContent = "Discuss this passage";
      const tools = toolsOf(found.element);
      if (tools) tools.prepend(button);
      else found.element.append(button);
    } else {
      button.textContent = "Quote";
      found.element.after(button);
    }
    button.hidden = false;
    place(found.range.getBoundingClientRect());
  }

  // Just under the end of the selection, in the coordinates of the button's positioned parent.
  function place(rect) {
    const parent =
      button.offsetParent && button.offsetParent !== document.body
        ? button.offsetParent
        : document.documentElement;
    const base = parent.getBoundingClientRect();
    button.style.left = `${Math.max(rect.left - base.left, 0)}px`;
    button.style.top = `${rect.bottom - base.top + 6}px`;
  }

  function hide() {
    offer = null;
    button.hidden = true;
  }

  function update() {
    const found = selected();
    if (found) show(found);
    else if (document.activeElement !== button) hide();
  }

  let pending = 0;
  document.addEventListener("selectionchange", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(update);
  });
  // Clicking the button must not clear the selection before it acts.
  button.addEventListener("mousedown", (event) => event.preventDefault());
  button.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hide();
  });
  button.addEventListener("click", () => {
    const found = offer;
    hide();
    if (!found) return;
    if (found.kind === "passage") discuss(found.element, found.text);
    else quoteReply(found.element, found.text);
  });

  function discuss(passage, text) {
    const form = document.getElementById("reply-form-top");
    const fields = form?.querySelector(".passage-fields");
    if (!form || !fields) {
      // No composer here (signed out, locked): the passage's own composer page.
      const link = toolsOf(passage)?.querySelector(".discuss-link");
      if (link) window.location.assign(`${link.href}&quote=${encodeURIComponent(text)}`);
      return;
    }
    form.querySelector("input[name=passage]").value = passage.id;
    form.querySelector("input[name=quote]").value = text;
    fields.hidden = false;
    const drop = fields.querySelector("[data-drop-passage]");
    if (drop) drop.hidden = false;
    const body = form.querySelector("textarea[name=body]");
    body.scrollIntoView({ block: "center" });
    body.focus();
  }

  function quoteReply(replyBody, text) {
    const reply = replyBody.closest(".reply");
    const textarea = composerFor(replyBody);
    if (!reply || !textarea) return;
    const link = reply.querySelector(":scope > .reply-main .when")?.getAttribute("href") || "";
    const author = reply.dataset.author || "a reply";
    const quoted = text
      .split(/\r?\n/)
      .map((line) => `> ${line}`.trimEnd())
      .join("\n");
    const before = textarea.value.trimEnd();
    textarea.value = `${before ? `${before}\n\n` : ""}[${author} wrote](${link}):\n${quoted}\n\n`;
    // forum.js keeps drafts on input: the quote is part of what the reader is writing.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.scrollIntoView({ block: "center" });
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  }

  // "Not about a passage": the composer forgets the passage and its quote.
  document.addEventListener("click", (event) => {
    const drop = event.target.closest?.("[data-drop-passage]");
    if (!drop) return;
    const fields = drop.closest(".passage-fields");
    fields.querySelector("input[name=passage]").value = "";
    fields.querySelector("input[name=quote]").value = "";
    fields.hidden = true;
    fields.closest("form")?.querySelector("textarea[name=body]")?.focus();
  });
})();
