// Small progressive enhancements on top of htmx; the forum works without this file.
"use strict";

// A reply form opened in place (or shown again with an error) is focused by htmx itself:
// the templates mark its textarea `autofocus`.
document.addEventListener("htmx:after:swap", () => {
  dropBufferedDuplicates();
  restoreDrafts();
  dropEmptyNotice();
  showScriptedControls();
  addCollapseButtons();
});

// Controls that only work with this script and htmx (the Preview button) come hidden.
function showScriptedControls() {
  for (const control of document.querySelectorAll("[data-needs-js][hidden]")) control.hidden = false;
}
document.addEventListener("DOMContentLoaded", showScriptedControls);

// ---- Refusals and focus: nothing fails silently ----

// Refusals with a place in a form come back as that form with the error beside the field; the
// others are sent with HX-Reswap: none (forum/http.py) and shown by showRefusal, so that no
// error page is ever swapped into a fragment's place: beside the form that was sent, or in
// the page's alert region (base.html) when a link was followed.
function showRefusal(source, text) {
  const form = source?.closest?.("form");
  if (!form?.isConnected) {
    showAlert(text);
    return;
  }
  let note = form.querySelector(":scope .form-refusal");
  if (!note) {
    note = document.createElement("p");
    note.className = "field-error form-refusal";
    note.setAttribute("role", "alert");
    const actions = form.querySelector(".form-actions");
    if (actions) actions.before(note);
    else form.append(note);
  }
  note.textContent = text;
}

function showAlert(text) {
  const region = document.getElementById("page-alert");
  if (!region) return;
  const message = document.createElement("p");
  message.textContent = text;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "link-button";
  dismiss.dataset.dismissAlert = "";
  dismiss.textContent = "Dismiss";
  region.replaceChildren(message, dismiss);
}

function clearAlert() {
  document.getElementById("page-alert")?.replaceChildren();
}

document.addEventListener("click", (event) => {
  if (event.target.closest?.("[data-dismiss-alert]")) clearAlert();
});

document.addEventListener("htmx:before:request", (event) => {
  clearAlert();
  const form = event.target.closest?.("form");
  if (form) {
    saveDraft(form);
    form.querySelector(".form-refusal")?.remove();
  }
  rememberNextFlagItem(event.target);
});

document.addEventListener("htmx:after:request", (event) => {
  const ctx = event.detail.ctx;
  const form = event.target;
  // Posted or saved: the draft is done with (the fresh form that replaces it starts empty).
  if (form instanceof HTMLFormElement && ctx.response?.status < 400) forgetDraft(form);
});

document.addEventListener("htmx:finally:request", (event) => {
  const ctx = event.detail.ctx;
  const response = ctx.response;
  // No answer: declined at a confirmation, cancelled, or failed (htmx:error, below).
  if (!response) return;
  if (response.status >= 400 && ctx.swap === "none") {
    const page = new DOMParser().parseFromString(ctx.text || "", "text/html");
    const text = page.body.textContent.trim() || `The forum refused that (${response.status}).`;
    showRefusal(event.target, text);
    return;
  }
  // The server names what should have focus after its answer (X-Focus): the reply just posted,
  // edited or hidden, the first of the replies just loaded.
  const focusId = response.headers.get("X-Focus");
  if (focusId) focusElement(document.getElementById(focusId));
  focusNextFlagItem();
});

// A request that got no answer at all (network down, timeout); not one cancelled on purpose.
document.addEventListener("htmx:error", (event) => {
  if (!event.detail.ctx || event.detail.ctx.response) return;
  showRefusal(event.target, "The forum could not be reached. Nothing you wrote is lost: try again.");
});

function focusElement(element) {
  if (!element) return;
  if (!element.matches("a[href], button, input, textarea, select, [tabindex]")) element.tabIndex = -1;
  element.focus();
}

// Dismissing or hiding from the moderators' queue removes the item: focus the next one. By id:
// the live queue may have been replaced meanwhile.
let nextFlagItem = null;
function rememberNextFlagItem(source) {
  const item = source.closest?.(".flag-item");
  const next = item?.nextElementSibling || item?.previousElementSibling;
  nextFlagItem = item ? { id: item.id, nextId: next?.id || "" } : null;
}
function focusNextFlagItem() {
  if (!nextFlagItem || document.getElementById(nextFlagItem.id)) return;
  const next = document.getElementById(nextFlagItem.nextId) || document.querySelector(".flag-item, h1");
  nextFlagItem = null;
  focusElement(next);
}

// Signed out meanwhile (another tab, an expired session): the answer sends the reader to sign
// in. Come back to this page at this form, whose text is kept as a draft (below).
document.addEventListener("htmx:before:response", (event) => {
  const ctx = event.detail.ctx;
  if (ctx.response.status !== 401 || !ctx.hx?.redirect) return;
  const source = event.target;
  const anchor = source.id || source.dataset?.opens || source.closest?.(".reply")?.id || "";
  const signIn = new URL(ctx.hx.redirect, window.location.href);
  const back = window.location.pathname + window.location.search + (anchor ? `#${anchor}` : "");
  signIn.searchParams.set("next", back);
  ctx.hx.redirect = signIn.pathname + signIn.search;
});

// ---- Drafts: what a reader types survives a refusal, a sign-in, a reload, a closed tab ----

// Kept in localStorage, one per thread and form: the form's action names the thread
// (/a/SLUG/replies, /a/SLUG/r/ID/edit) and its id the reply answered (reply-form-12, -top).
const draftStore = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, text) {
    try {
      if (text.trim()) localStorage.setItem(key, text);
      else localStorage.removeItem(key);
    } catch {
      // Storage full or disabled: the form itself still holds the text.
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      // Disabled storage: nothing was kept.
    }
  },
};

function draftKey(form) {
  if (!form.id || !form.querySelector("textarea[name=body]")) return null;
  return `draft:${new URL(form.action, window.location.href).pathname}:${form.id}`;
}

function saveDraft(form) {
  const key = draftKey(form);
  if (key) draftStore.set(key, form.querySelector("textarea[name=body]").value);
}

function forgetDraft(form) {
  const key = draftKey(form);
  if (key) draftStore.remove(key);
}

// Put a kept draft back into a form that shows nothing new (an empty reply form, an edit form
// still holding the saved text), and say so.
function restoreDrafts() {
  for (const form of document.querySelectorAll("form.reply-form[id]")) {
    const key = draftKey(form);
    const draft = key && draftStore.get(key);
    const textarea = form.querySelector("textarea[name=body]");
    // Only into a form as the server sent it: never over what the reader has typed since.
    if (!draft || !textarea || textarea.value === draft) continue;
    if (textarea.value !== textarea.defaultValue) continue;
    textarea.value = draft;
    announce("Your unsent text was restored.");
    if (window.location.hash === `#${form.id}`) {
      form.scrollIntoView({ block: "center" });
      textarea.focus();
    }
  }
}

document.addEventListener("input", (event) => {
  const form = event.target.closest?.("form.reply-form");
  if (form && event.target.name === "body") saveDraft(form);
});

// Back from signing in at #reply-form-12 (or #edit-form-12): open that form again, then the
// draft goes back into it (restoreDrafts after the swap).
document.addEventListener("DOMContentLoaded", () => {
  // After htmx's own DOMContentLoaded handler has processed the page.
  setTimeout(() => {
    restoreDrafts();
    const wanted = decodeURIComponent(window.location.hash.slice(1));
    if (!wanted || document.getElementById(wanted)) return;
    document.querySelector(`[data-opens="${CSS.escape(wanted)}"]`)?.click();
  });
});

// ---- Forms opened in place: Cancel and Escape close them, Ctrl/Cmd+Enter sends them ----

document.addEventListener("click", (event) => {
  const cancel = event.target.closest?.("[data-cancel]");
  if (!cancel) return;
  const form = cancel.closest("form");
  if (form) forgetDraft(form);
  // The edit form's Cancel asks htmx for the reply as it is.
  const slot = form?.closest(".reply-slot");
  if (!slot || cancel.hasAttribute("hx-get")) return;
  event.preventDefault();
  slot.replaceChildren();
  focusElement(document.querySelector(`[data-opens="${CSS.escape(form.id)}"]`));
});

document.addEventListener("keydown", (event) => {
  const form = event.target.closest?.("form.reply-form");
  if (!form) return;
  if (event.key === "Escape") {
    const cancel = form.querySelector("[data-cancel]");
    if (cancel) {
      event.preventDefault();
      cancel.click();
    }
  } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit();
  }
});

// ---- The edit window: the Edit link says how long is left and goes when it closes ----

function updateEditLinks() {
  const now = Date.now();
  for (const link of document.querySelectorAll("a[data-editable-until]")) {
    const left = Date.parse(link.dataset.editableUntil) - now;
    if (!(left > 0)) {
      link.remove();
      continue;
    }
    const minutes = Math.ceil(left / 60_000);
    const label = link.querySelector(".edit-left");
    if (label) label.textContent = minutes === 1 ? "(1 min left)" : `(${minutes} min left)`;
  }
}
setInterval(updateEditLinks, 5_000);
document.addEventListener("htmx:after:swap", updateEditLinks);
document.addEventListener("DOMContentLoaded", updateEditLinks);

// Forms that ask before they act (data-confirm; data-confirm-hide when "hide all their replies"
// is ticked). An inline onsubmit would be blocked by the Content-Security-Policy.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const message = form.dataset?.confirm;
  if (!message) return;
  const hiding = form.elements.namedItem("hide_replies")?.checked && form.dataset.confirmHide;
  if (!window.confirm(hiding || message)) event.preventDefault();
});

// ---- Live thread (see docs/live.md) ----

// Besides htmx's own reconnect codes: 4401 (signed out) and 4409 (role changed) close a socket
// whose account changed; the next one is opened with the view the account has now.
// A hidden tab stays connected (htmx would close its socket): its title counts the new replies.
htmx.config.ws = {
  ...(htmx.config.ws || {}),
  reconnectCodes: [1001, 1005, 1006, 1011, 1012, 1013, 1014, 4401, 4409],
  pauseOnBackground: false,
  // htmx's backoff doubles up to a minute: after a restart of half a minute a page would wait
  // up to another minute. Capped at 5 s (still ±30 % jitter, which spreads thousands of pages).
  reconnectMaxDelay: 5000,
};

function liveBar() {
  return document.getElementById("live");
}

// On every (re)connection, say where this page is, so the server replays what it missed.
document.addEventListener("htmx:ws:after:connection", (event) => {
  const bar = liveBar();
  if (!bar || event.target !== bar) return;
  const lastSeq = Number(bar.dataset.lastSeq || 0);
  event.detail.connection.socket.send(JSON.stringify({ type: "resume", last_seq: lastSeq }));
});

// Past the server's cap on open pages (close code 4429, docs/live.md) htmx does not reconnect;
// tell the reader why this page stopped updating rather than leave "N reading now" standing.
const CLOSE_TOO_MANY_SOCKETS = 4429;
document.addEventListener("htmx:ws:close", (event) => {
  const bar = liveBar();
  if (!bar || event.target !== bar || event.detail.code !== CLOSE_TOO_MANY_SOCKETS) return;
  const presence = document.getElementById("presence");
  if (presence) presence.textContent = "Too many open pages: live updates paused here.";
  announce("Too many open pages: live updates paused here. Close some and reload to resume.");
});

document.addEventListener("htmx:ws:before:message:incoming", (event) => {
  const bar = liveBar();
  if (!bar || event.target !== bar) return;
  let frame;
  try {
    frame = JSON.parse(event.detail.message.data);
  } catch {
    return;
  }
  if (typeof frame.seq === "number") {
    bar.dataset.lastSeq = String(Math.max(Number(bar.dataset.lastSeq || 0), frame.seq));
  }
  if (frame.type === "suspended" || frame.type === "account") {
    // The server closes this socket next (4403: no reconnect; 4401/4409: reconnect with the view
    // the account has now). Say why, without moving focus; what the page shows stays until the
    // reader reloads, so nothing they are typing is lost.
    const notice = document.createElement("p");
    notice.className = frame.type === "suspended" ? "notice suspended-notice" : "notice account-notice";
    notice.setAttribute("role", "alert");
    notice.textContent = frame.message || "Your account has been suspended.";
    if (frame.type === "account") {
      notice.append(" ");
      const reload = document.createElement("a");
      reload.href = window.location.pathname + window.location.search;
      reload.textContent = "Reload the page";
      notice.append(reload);
    }
    document.getElementById("main")?.prepend(notice);
    return;
  }
  if (frame.type === "refresh") {
    event.detail.cancelled = true;
    refreshThread(frame.last_seq);
    return;
  }
  // The reader muted or unmuted a member (on another page): fold or open their replies here.
  if (frame.type === "mute") {
    event.detail.cancelled = true;
    for (const reply of document.querySelectorAll(`.reply[data-author="${CSS.escape(frame.author)}"]`)) {
      const main = reply.querySelector(":scope > .reply-main");
      if (main) setMuted(main, frame.muted);
    }
    return;
  }
  // A reply shown anew (edited, or its author deleted their account): its name goes with it.
  if (frame.op === "replace" && frame.author) {
    const reply = document.getElementById(`reply-${frame.reply_id}`);
    if (reply) reply.dataset.author = frame.author;
  }
  // The page already shows this reply, or will once its own post is answered: insert nothing,
  // but still take the thread's new reply count from the frame.
  if (
    frame.op === "insert" &&
    (document.getElementById(`reply-${frame.reply_id}`) || isOwnPostInFlight(bar, frame))
  ) {
    event.detail.message.data = JSON.stringify({ ...frame, content: withoutInserts(frame.content) });
    return;
  }
  if (frame.op === "insert" && frame.author && frame.author !== bar.dataset.viewer) {
    announce(frame.muted ? "New reply from a muted member." : `New reply from ${frame.author}.`);
    if (document.hidden) {
      unseenWhileHidden += 1;
      updateTitle();
    }
  }
});

// Fold a reply's main block into the one line the server renders for a muted member's reply
// (templates/_reply.html), or open it out again.
function setMuted(main, muted) {
  const folded = main.querySelector(":scope > details.muted-reply");
  if (muted && !folded) {
    const details = document.createElement("details");
    details.className = "muted-reply";
    const summary = document.createElement("summary");
    summary.textContent = "Reply by a muted member — show";
    details.append(summary, ...main.childNodes);
    main.append(details);
  } else if (!muted && folded) {
    folded.querySelector(":scope > summary")?.remove();
    main.replaceChildren(...folded.childNodes);
  }
}

// While the tab is hidden, its title counts the new replies from others: "(3) Article · forum".
const pageTitle = document.title;
let unseenWhileHidden = 0;
function updateTitle() {
  document.title = unseenWhileHidden ? `(${unseenWhileHidden}) ${pageTitle}` : pageTitle;
}
document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  unseenWhileHidden = 0;
  updateTitle();
});

// "No replies yet" goes as soon as there is one, shown or waiting behind the button.
function dropEmptyNotice() {
  if (document.querySelector("#replies .reply, #live-buffer .reply")) {
    document.getElementById("no-replies")?.remove();
  }
}

// The queue changed: the live frame replaces its first page; a later page loads itself again,
// so that what another moderator handled leaves it too.
document.addEventListener("htmx:ws:after:message:incoming", (event) => {
  const later = document.getElementById("flag-queue-later");
  if (!later || !event.target.contains(later)) return;
  htmx.ajax("GET", window.location.pathname + window.location.search, {
    target: "#flag-queue-later",
    select: "#flag-queue-later",
    swap: "outerHTML",
  });
});

// This page's reader posted the reply and the form's request is still out: its answer shows it.
function isOwnPostInFlight(bar, frame) {
  const form = document.getElementById(`reply-form-${frame.parent_id ?? "top"}`);
  return frame.author === bar.dataset.viewer && !!form?.classList.contains("htmx-request");
}

// A frame's partials minus the reply it inserts (those target #children-… or #live-buffer).
function withoutInserts(content) {
  const template = document.createElement("template");
  template.innerHTML = content;
  const inserts = 'hx-partial[hx-target^="#children-"], hx-partial[hx-target="#live-buffer"]';
  for (const partial of template.content.querySelectorAll(inserts)) partial.remove();
  return template.innerHTML;
}

document.addEventListener("htmx:ws:after:message:incoming", () => {
  addCollapseButtons();
  updateNewRepliesButton();
  dropEmptyNotice();
  refocusAfterLiveSwap();
  // A queue item acted on (a suspension that hid its author's replies) left with this frame.
  if (!document.activeElement || document.activeElement === document.body) focusNextFlagItem();
});

// A live frame may replace what has focus (a reply edited elsewhere, the moderators' queue):
// give focus back to the element of the same id rather than let it fall to the page.
let focusedBeforeFrame = "";
document.addEventListener("htmx:ws:before:message:incoming", () => {
  focusedBeforeFrame = document.activeElement?.id || "";
});
function refocusAfterLiveSwap() {
  const id = focusedBeforeFrame;
  focusedBeforeFrame = "";
  if (!id || (document.activeElement && document.activeElement !== document.body)) return;
  focusElement(document.getElementById(id));
}

// The gap could not be replayed: load the thread again, then carry on from the server's position.
function refreshThread(lastSeq) {
  const bar = liveBar();
  fetch(window.location.pathname + window.location.search)
    .then((response) => response.text())
    .then((html) => {
      const fresh = new DOMParser().parseFromString(html, "text/html");
      const replies = fresh.getElementById("replies");
      const count = fresh.getElementById("reply-count");
      const pinned = fresh.getElementById("pinned-replies");
      if (pinned) {
        document.getElementById("pinned-replies")?.replaceWith(pinned);
        htmx.process(pinned);
      }
      if (replies) {
        document.getElementById("replies").replaceWith(replies);
        htmx.process(replies);
      }
      if (count) document.getElementById("reply-count")?.replaceWith(count);
      document.getElementById("live-buffer").replaceChildren();
      updateNewRepliesButton();
      if (bar) bar.dataset.lastSeq = String(lastSeq);
    });
}

// New top-level replies wait in a hidden buffer until the reader asks for them.
function updateNewRepliesButton() {
  const buffer = document.getElementById("live-buffer");
  const button = document.getElementById("new-replies");
  if (!buffer || !button) return;
  const count = buffer.children.length;
  button.hidden = count === 0;
  button.textContent = count === 1 ? "Show 1 new reply" : `Show ${count} new replies`;
}

function dropBufferedDuplicates() {
  const buffer = document.getElementById("live-buffer");
  if (!buffer) return;
  for (const held of Array.from(buffer.children)) {
    if (document.querySelectorAll(`#${CSS.escape(held.id)}`).length > 1) held.remove();
  }
  updateNewRepliesButton();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("#new-replies");
  if (!button) return;
  const buffer = document.getElementById("live-buffer");
  const replies = document.getElementById("replies");
  const newestFirst = (liveBar()?.dataset.order || "newest") === "newest";
  const held = Array.from(buffer.children);
  const count = held.length;
  // Buffered in arrival order (oldest first).
  if (newestFirst) {
    replies.prepend(...held.reverse());
  } else {
    const loadMore = replies.querySelector(":scope > .load-more");
    for (const reply of held) replies.insertBefore(reply, loadMore);
  }
  // The button hides now: keep keyboard focus where the new replies start, not on the page.
  if (document.activeElement === button && held.length) {
    held[0].tabIndex = -1;
    held[0].focus();
  }
  updateNewRepliesButton();
  announce(count === 1 ? "1 new reply shown." : `${count} new replies shown.`);
});

function announce(text) {
  const status = document.getElementById("live-status");
  if (status) status.textContent = text;
}

// ---- Collapsing subthreads, remembered per thread ----

// Each reply with replies under it gets a button that hides them (and shows them again). Which
// are collapsed is kept per thread in localStorage; without this script every reply shows.
function collapseKey() {
  const slug = window.location.pathname.split("/")[2];
  return slug ? `collapsed:${slug}` : null;
}

function collapsedIds() {
  const key = collapseKey();
  try {
    return new Set(key ? JSON.parse(localStorage.getItem(key) || "[]") : []);
  } catch {
    return new Set();
  }
}

function rememberCollapsed(replyId, collapsed) {
  const key = collapseKey();
  if (!key) return;
  const ids = collapsedIds();
  if (collapsed) ids.add(replyId);
  else ids.delete(replyId);
  try {
    if (ids.size) localStorage.setItem(key, JSON.stringify([...ids]));
    else localStorage.removeItem(key);
  } catch {
    // Storage disabled: collapsing still works for this page.
  }
}

function setCollapsed(reply, button, collapsed) {
  const below = reply.querySelectorAll(":scope > .children .reply").length;
  reply.classList.toggle("is-collapsed", collapsed);
  button.setAttribute("aria-expanded", String(!collapsed));
  const count = below === 1 ? "1 reply" : `${below} replies`;
  button.textContent = collapsed ? `Show ${count}` : "Hide replies";
}

function addCollapseButtons() {
  const collapsed = collapsedIds();
  for (const reply of document.querySelectorAll("article.reply[id^='reply-']")) {
    const children = reply.querySelector(":scope > .children");
    const main = reply.querySelector(":scope > .reply-main");
    const hasReplies = children?.querySelector(":scope > .reply, :scope > .more-replies");
    let button = main?.querySelector(":scope .collapse-toggle");
    if (!main || !hasReplies) {
      button?.remove();
      continue;
    }
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "link-button collapse-toggle";
      button.setAttribute("aria-controls", children.id);
      (main.querySelector(":scope > .reply-meta") || main).append(button);
    }
    setCollapsed(reply, button, collapsed.has(reply.id));
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.(".collapse-toggle");
  if (!button) return;
  const reply = button.closest("article.reply");
  const collapse = !reply.classList.contains("is-collapsed");
  setCollapsed(reply, button, collapse);
  rememberCollapsed(reply.id, collapse);
});

document.addEventListener("DOMContentLoaded", addCollapseButtons);
