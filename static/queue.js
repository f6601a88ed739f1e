// The moderators' queue at speed (templates/mod_flags.html): ticking replies (or all of one
// author's) for the bulk form, keyboard shortcuts with a help dialog, ticks kept across live
// updates. Without this file every action still works, one form at a time.
"use strict";

(() => {
  const items = () => Array.from(document.querySelectorAll(".flag-item"));
  const bulkForm = () => document.getElementById("bulk-form");
  const authorField = () => document.getElementById("bulk-author");
  const checkboxes = () => Array.from(document.querySelectorAll(".select-item"));

  // Controls that need this file stay hidden without it.
  function reveal() {
    for (const control of document.querySelectorAll("#queue-help-open, .select-author")) {
      control.hidden = false;
    }
  }

  // ---- Ticking: several replies, or all of one author's ----

  function ticked() {
    return checkboxes().filter((box) => box.checked);
  }

  function describeSelection() {
    const line = document.getElementById("bulk-selection");
    if (!line) return;
    const author = authorField()?.value;
    if (author) {
      const button = document.querySelector(`[data-select-author="${CSS.escape(author)}"]`);
      const count = Number(button?.dataset.count || ticked().length);
      const replies = count === 1 ? "1 flagged reply" : `all ${count} flagged replies`;
      line.textContent = `Selected: ${replies} by ${author}, on every page.`;
      return;
    }
    const count = ticked().length;
    line.textContent =
      count === 0
        ? "Tick replies (x) or select all of an author's (a)."
        : `Selected: ${count === 1 ? "1 reply" : `${count} replies`}.`;
  }

  function selectAuthor(author) {
    const field = authorField();
    if (field) field.value = author;
    for (const item of items()) {
      const box = item.querySelector(".select-item");
      if (box) box.checked = item.dataset.author === author;
    }
    describeSelection();
  }

  // Ticking or unticking one reply by hand ends "all of this author's" (it names replies again).
  function leaveAuthorMode() {
    const field = authorField();
    if (field?.value) field.value = "";
  }

  function clearSelection() {
    leaveAuthorMode();
    for (const box of checkboxes()) box.checked = false;
    describeSelection();
  }

  function hasSelection() {
    return Boolean(authorField()?.value) || ticked().length > 0;
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-select-author]");
    if (button) selectAuthor(button.dataset.selectAuthor);
    if (event.target.closest?.("#queue-help-open")) openHelp();
  });

  document.addEventListener("change", (event) => {
    if (!event.target.matches?.(".select-item")) return;
    leaveAuthorMode();
    describeSelection();
  });

  // ---- Live: the queue's first page merged item by item ----

  // The live frame (/mod/live) brings the whole first page. Merged by item id rather than
  // swapped whole, so that an item someone is working in (a form open, focus inside) stays as
  // it is, ticks stay ticked, and only handled items leave.
  function isBusy(item) {
    return (
      item.contains(document.activeElement) ||
      item.querySelector(".reply-slot")?.children.length > 0 ||
      Boolean(item.querySelector("details[open]"))
    );
  }

  function mergeQueue(fresh) {
    const list = document.getElementById("flag-queue");
    if (!list || !fresh) return;
    const current = new Map(Array.from(list.children, (item) => [item.id, item]));
    const merged = Array.from(fresh.children, (item) => {
      const old = item.id ? current.get(item.id) : null;
      if (old && isBusy(old)) return old;
      if (old?.querySelector(".select-item")?.checked) item.querySelector(".select-item").checked = true;
      return item;
    });
    // Moving the focused element (in a kept item) takes focus away: give it back.
    const active = document.activeElement;
    list.replaceChildren(...merged);
    if (active?.isConnected && document.activeElement !== active) active.focus({ preventScroll: true });
    htmx.process(list);
  }

  document.addEventListener("htmx:ws:before:message:incoming", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.detail.message.data);
    } catch {
      return;
    }
    if (frame.type !== "flags.changed" || !document.getElementById("flag-queue")) return;
    const template = document.createElement("template");
    template.innerHTML = frame.content;
    const partial = template.content.querySelector('hx-partial[hx-target="#flag-queue"]');
    mergeQueue(partial?.querySelector("#flag-queue"));
    partial?.remove();
    // htmx swaps what is left (the total).
    event.detail.message.data = JSON.stringify({ ...frame, content: template.innerHTML });
  });

  document.addEventListener("htmx:ws:after:message:incoming", () => {
    const author = authorField()?.value;
    if (author) selectAuthor(author);
    else describeSelection();
    reveal();
  });

  // The bulk form's answer: what was selected has been dealt with (and has left the queue);
  // focus goes to the first item left, for the next action.
  document.addEventListener("htmx:finally:request", (event) => {
    if (event.target !== bulkForm() || !(event.detail.ctx.response?.status < 400)) return;
    clearSelection();
    const first = items()[0];
    if (first) focusItem(first);
    else focusItem(document.getElementById("flag-total"));
  });

  document.addEventListener("htmx:after:swap", () => {
    reveal();
    describeSelection();
  });

  // The hide form opened in an item: its first reason takes focus.
  document.addEventListener("htmx:finally:request", (event) => {
    if (!event.target.matches?.('.flag-item [data-key="h"]')) return;
    event.target.closest(".flag-item").querySelector(".reply-slot input[type=radio]")?.focus();
  });

  // ---- Keyboard shortcuts ----

  function openHelp() {
    const dialog = document.getElementById("queue-help");
    if (!dialog || dialog.open) return;
    const before = document.activeElement;
    dialog.addEventListener("close", () => before?.focus?.(), { once: true });
    dialog.showModal();
  }

  function focusItem(item) {
    if (!item) return;
    if (!item.hasAttribute("tabindex")) item.tabIndex = -1;
    item.focus();
    item.scrollIntoView({ block: "nearest" });
  }

  function current() {
    return document.activeElement?.closest?.(".flag-item") || null;
  }

  function move(step) {
    const all = items();
    if (!all.length) return;
    const index = all.indexOf(current());
    if (index === -1) focusItem(step > 0 ? all[0] : all[all.length - 1]);
    else focusItem(all[Math.min(Math.max(index + step, 0), all.length - 1)]);
  }

  function bulk(action) {
    const form = bulkForm();
    if (!form) return;
    const reason = form.querySelector("#bulk-reason");
    if (action === "hide" && reason && !reason.value) {
      const status = document.getElementById("bulk-status");
      if (status) status.textContent = "Choose a reason to hide the selected replies, then press h again.";
      reason.focus();
      return;
    }
    form.requestSubmit(form.querySelector(`button[name=action][value="${action}"]`));
  }

  function act(key, item) {
    if (key === "x") {
      const box = item.querySelector(".select-item");
      if (!box) return;
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    } else if (key === "a") {
      item.querySelector("[data-select-author]")?.click();
    } else if ((key === "h" || key === "d") && hasSelection()) {
      bulk(key === "h" ? "hide" : "dismiss");
    } else if (key === "h") {
      item.querySelector('[data-key="h"]')?.click();
    } else if (key === "d") {
      item.querySelector('[data-key="d"]')?.click();
    } else if (key === "s") {
      const details = item.querySelector("details.suspend-author");
      if (!details) return;
      details.open = true;
      details.querySelector("input[name=reason]")?.focus();
    }
  }

  // Typing in a field (or choosing in a list) is never a shortcut; ticking a box is no typing.
  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.matches("textarea, select")) return true;
    return target.matches("input") && !target.matches("[type=checkbox], [type=radio], [type=submit], [type=button]");
  }

  document.addEventListener("keydown", (event) => {
    if (!document.getElementById("flag-total")) return;
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target) || document.querySelector("dialog[open]")) return;
    const key = event.key;
    if (key === "?") {
      event.preventDefault();
      openHelp();
      return;
    }
    if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
      return;
    }
    if (!["x", "a", "h", "d", "s"].includes(key)) return;
    const item = current() || items()[0];
    if (!item) return;
    event.preventDefault();
    act(key, item);
  });

  document.addEventListener("DOMContentLoaded", () => {
    reveal();
    describeSelection();
  });
})();
