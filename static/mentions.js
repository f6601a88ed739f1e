// @name suggestions in reply and edit textareas: typing "@al" lists members whose names start
// with "al" (GET /api/users?prefix=al); arrows choose, Enter or Tab inserts, Escape closes.
// Without this file the textarea is a plain textarea, and @name still links once posted.
//
// Accessibility: the textarea keeps its textbox role (ARIA in HTML allows no other on a
// textarea, so no role=combobox and no aria-expanded, which axe-core rightly refuses there); it
// says aria-autocomplete="list", aria-controls names the listbox, aria-activedescendant follows
// the chosen option, and a polite status tells screen readers what opened and how to use it.
"use strict";

(() => {
  const NAME_BEFORE_CARET = /(?:^|[^A-Za-z0-9_@-])@([A-Za-z0-9_-]{1,30})$/;
  const WAIT_MS = 150;
  const answers = new Map(); // prefix (lower case) -> usernames, for this page's life
  const state = new WeakMap(); // textarea -> its suggestion box
  let serial = 0;

  function signedIn() {
    return document.body.classList.contains("is-signed-in");
  }

  function isComposer(element) {
    return element instanceof HTMLTextAreaElement && element.name === "body" &&
      element.closest("form.reply-form") !== null;
  }

  // The listbox and the status of one textarea, made when it is first typed in.
  function boxFor(textarea) {
    let box = state.get(textarea);
    if (box?.list.isConnected) return box;
    serial += 1;
    const base = `${textarea.id || "composer"}-mentions-${serial}`;
    const list = document.createElement("ul");
    list.id = `${base}-list`;
    list.className = "mention-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Members to mention");
    list.hidden = true;
    const status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    textarea.after(list, status);
    textarea.setAttribute("aria-autocomplete", "list");
    textarea.setAttribute("aria-controls", list.id);
    // Choosing with the pointer must not take the focus from the textarea.
    list.addEventListener("mousedown", (event) => event.preventDefault());
    list.addEventListener("click", (event) => {
      const option = event.target.closest?.("[role=option]");
      if (option) insert(textarea, box, option.dataset.name);
    });
    box = { list, status, names: [], active: -1, start: 0, timer: 0, asked: "" };
    state.set(textarea, box);
    return box;
  }

  // The "@prefix" that ends at the caret, if any: its start and its prefix.
  function typedName(textarea) {
    if (textarea.selectionStart !== textarea.selectionEnd) return null;
    const before = textarea.value.slice(0, textarea.selectionStart);
    const found = NAME_BEFORE_CARET.exec(before);
    if (!found) return null;
    return { start: before.length - found[1].length - 1, prefix: found[1] };
  }

  async function lookUp(prefix) {
    const key = prefix.toLowerCase();
    if (answers.has(key)) return answers.get(key);
    const response = await fetch(`/api/users?prefix=${encodeURIComponent(prefix)}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    // Too many lookups, signed out, a bad prefix: no suggestions, the textarea goes on.
    if (!response.ok) return [];
    const names = (await response.json()).usernames || [];
    answers.set(key, names);
    return names;
  }

  function close(textarea, box) {
    if (!box) return;
    clearTimeout(box.timer);
    box.asked = "";
    if (box.list.hidden) return;
    box.list.hidden = true;
    box.list.replaceChildren();
    box.names = [];
    box.active = -1;
    box.status.textContent = "";
    textarea.removeAttribute("aria-activedescendant");
  }

  function show(textarea, box, names, start) {
    box.names = names;
    box.start = start;
    box.list.replaceChildren(
      ...names.map((name, index) => {
        const option = document.createElement("li");
        option.id = `${box.list.id}-${index}`;
        option.setAttribute("role", "option");
        option.dataset.name = name;
        option.textContent = `@${name}`;
        return option;
      }),
    );
    // Just under the textarea (the form is its positioned ancestor). Set through the CSSOM,
    // which the Content-Security-Policy allows, unlike a style attribute.
    box.list.style.top = `${textarea.offsetTop + textarea.offsetHeight}px`;
    box.list.style.left = `${textarea.offsetLeft}px`;
    box.list.hidden = false;
    choose(textarea, box, 0);
    const count = names.length === 1 ? "1 member" : `${names.length} members`;
    box.status.textContent =
      `${count} to mention. Up and down arrows to choose, Enter or Tab to insert, Escape to close.`;
  }

  function choose(textarea, box, index) {
    const options = box.list.querySelectorAll("[role=option]");
    if (!options.length) return;
    box.active = (index + options.length) % options.length;
    options.forEach((option, at) => {
      option.setAttribute("aria-selected", at === box.active ? "true" : "false");
    });
    const current = options[box.active];
    textarea.setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  }

  function insert(textarea, box, name) {
    if (!name) return;
    const caret = textarea.selectionStart;
    const text = `@${name} `;
    textarea.setRangeText(text, box.start, caret, "end");
    close(textarea, box);
    box.status.textContent = `@${name} inserted.`;
    // Heard by the draft keeper in forum.js like any typing.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
  }

  function refresh(textarea) {
    const box = boxFor(textarea);
    const typed = typedName(textarea);
    if (!typed) {
      close(textarea, box);
      return;
    }
    clearTimeout(box.timer);
    box.asked = typed.prefix;
    box.timer = setTimeout(async () => {
      let names = [];
      try {
        names = await lookUp(typed.prefix);
      } catch {
        names = []; // offline: no suggestions
      }
      // Typing went on meanwhile: only the latest question is answered.
      if (box.asked !== typed.prefix || !textarea.isConnected) return;
      if (names.length) show(textarea, box, names, typed.start);
      else close(textarea, box);
    }, WAIT_MS);
  }

  document.addEventListener("input", (event) => {
    if (!signedIn() || !isComposer(event.target)) return;
    if (event.isTrusted || event.inputType) refresh(event.target);
  });

  // Capturing, so that while the list is open its keys are the list's: forum.js's Escape
  // (close the form) and Enter must not act on them too.
  document.addEventListener(
    "keydown",
    (event) => {
      const textarea = event.target;
      if (!isComposer(textarea)) return;
      const box = state.get(textarea);
      if (!box || box.list.hidden || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        choose(textarea, box, box.active + (event.key === "ArrowDown" ? 1 : -1));
      } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
        insert(textarea, box, box.names[box.active]);
      } else if (event.key === "Escape") {
        close(textarea, box);
      } else {
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
    },
    true,
  );

  document.addEventListener("focusout", (event) => {
    if (isComposer(event.target)) close(event.target, state.get(event.target));
  });
  document.addEventListener("click", (event) => {
    if (isComposer(event.target)) refresh(event.target);
  });
})();
