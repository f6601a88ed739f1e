// Who is writing: "alice is replying…" under the reply being answered, or above the composer
// for replies to the article (docs/live.md, "Who is typing"). Rides on the thread's socket,
// which forum.js and htmx's ws extension open; this file only adds the typing frames.
"use strict";

(() => {
  // The page sends at most one signal this often while keys are pressed (the server throttles
  // to the same), and forgets a writer this long after their last frame.
  const SEND_EVERY_MS = 2000;
  const EXPIRES_MS = 6000;
  const STORAGE_KEY = "forum:typing";

  // name -> { parentId, expires }: the writers this page shows now.
  const writers = new Map();
  let socket = null;
  let lastSent = 0;
  let expiryTimer = 0;
  let lastAnnounced = "";

  function liveBar() {
    return document.getElementById("live");
  }

  function enabled() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) !== "off";
    } catch {
      return true; // storage refused (private mode): the default
    }
  }

  function setEnabled(on) {
    try {
      if (on) window.localStorage.removeItem(STORAGE_KEY);
      else window.localStorage.setItem(STORAGE_KEY, "off");
    } catch {
      // Not remembered, but still applies to this page.
    }
    if (!on) writers.clear();
    render();
  }

  // "alice is replying…", "alice and bob are replying…", "3 people are replying…".
  function phrase(names) {
    if (names.length === 0) return "";
    if (names.length === 1) return `${names[0]} is replying…`;
    if (names.length === 2) return `${names[0]} and ${names[1]} are replying…`;
    return `${names.length} people are replying…`;
  }

  // Where the writers answering parentId are shown: above the composer, or under that reply
  // (after its reply slot, before its children), made when first needed.
  function noteFor(parentId, create) {
    if (parentId === null) return document.getElementById("typing-top");
    let note = document.getElementById(`typing-${parentId}`);
    if (note || !create) return note;
    const reply = document.getElementById(`reply-${parentId}`);
    const children = document.getElementById(`children-${parentId}`);
    if (!reply || !children || children.parentElement !== reply) return null;
    note = document.createElement("p");
    note.className = "typing-note";
    note.id = `typing-${parentId}`;
    reply.insertBefore(note, children);
    return note;
  }

  function render() {
    const now = Date.now();
    for (const [name, entry] of writers) {
      if (entry.expires <= now) writers.delete(name);
    }
    const byParent = new Map();
    for (const [name, entry] of writers) {
      const key = entry.parentId;
      if (!byParent.has(key)) byParent.set(key, []);
      byParent.get(key).push(name);
    }
    // Writers under a reply this page does not show are shown above the composer instead.
    for (const key of Array.from(byParent.keys())) {
      if (key !== null && !noteFor(key, true)) {
        const moved = byParent.get(key);
        byParent.delete(key);
        byParent.set(null, [...(byParent.get(null) || []), ...moved]);
      }
    }
    for (const note of document.querySelectorAll(".typing-note")) {
      const key = note.id === "typing-top" ? null : Number(note.id.slice("typing-".length));
      const text = phrase((byParent.get(key) || []).sort());
      if (note.textContent !== text) note.textContent = text;
      note.hidden = text === "";
    }
    announce(Array.from(writers.keys()).sort());
    scheduleExpiry();
  }

  // Screen readers hear only a change of who is writing, never the same names again.
  function announce(names) {
    const status = document.getElementById("typing-status");
    const text = phrase(names);
    if (!status || text === lastAnnounced) return;
    lastAnnounced = text;
    status.textContent = text;
  }

  function scheduleExpiry() {
    window.clearTimeout(expiryTimer);
    if (writers.size === 0) return;
    const soonest = Math.min(...Array.from(writers.values(), (entry) => entry.expires));
    expiryTimer = window.setTimeout(render, Math.max(0, soonest - Date.now()) + 50);
  }

  document.addEventListener("htmx:ws:after:connection", (event) => {
    if (event.target === liveBar()) socket = event.detail.connection.socket;
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
    if (frame.type === "typing") {
      event.detail.cancelled = true; // nothing for htmx to swap
      if (!enabled() || frame.author === bar.dataset.viewer) return;
      if (frame.stopped) writers.delete(frame.author);
      else writers.set(frame.author, { parentId: frame.parent_id ?? null, expires: Date.now() + EXPIRES_MS });
      render();
    } else if ((frame.type === "reply.posted" && frame.author) || (frame.type === "mute" && frame.muted)) {
      // Their reply is here (should its "stopped" come late), or the reader muted them.
      if (writers.delete(frame.author)) render();
    }
  });

  // While the reader types a reply, tell the others (at most once per SEND_EVERY_MS).
  document.addEventListener("input", (event) => {
    const field = event.target;
    const form = field?.closest?.("form.reply-form");
    const bar = liveBar();
    if (!form || field.name !== "body" || !bar?.dataset.viewer || !enabled()) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (now - lastSent < SEND_EVERY_MS) return;
    lastSent = now;
    const parent = form.elements.namedItem("parent_id")?.value;
    socket.send(JSON.stringify({ type: "typing", parent_id: parent ? Number(parent) : null }));
  });

  // After a post the next reply may be signalled at once.
  document.addEventListener("htmx:after:request", (event) => {
    if (event.target?.matches?.("form.reply-form")) lastSent = 0;
  });

  document.addEventListener("change", (event) => {
    if (event.target?.id === "typing-toggle") setEnabled(event.target.checked);
  });

  // Notes under replies are kept across swaps of other content; a swap that replaced a reply
  // (or the composer's neighbourhood) gets its note back on the next render.
  document.addEventListener("htmx:after:swap", () => {
    if (writers.size) render();
  });

  function setUp() {
    const row = document.getElementById("typing-toggle-row");
    const toggle = document.getElementById("typing-toggle");
    if (!row || !toggle) return;
    toggle.checked = enabled();
    row.hidden = false;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
