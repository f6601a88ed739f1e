// Small progressive enhancements on top of htmx; the forum works without this file.
"use strict";

// A reply form opened in place (or shown again with an error) is focused by htmx itself:
// the templates mark its textarea `autofocus`.
document.addEventListener("htmx:after:swap", () => dropBufferedDuplicates());

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
htmx.config.ws = {
  ...(htmx.config.ws || {}),
  reconnectCodes: [1001, 1005, 1006, 1011, 1012, 1013, 1014, 4401, 4409],
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
    announce(`New reply from ${frame.author}.`);
  }
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

document.addEventListener("htmx:ws:after:message:incoming", () => updateNewRepliesButton());

// The gap could not be replayed: load the thread again, then carry on from the server's position.
function refreshThread(lastSeq) {
  const bar = liveBar();
  fetch(window.location.pathname + window.location.search)
    .then((response) => response.text())
    .then((html) => {
      const fresh = new DOMParser().parseFromString(html, "text/html");
      const replies = fresh.getElementById("replies");
      const count = fresh.getElementById("reply-count");
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
