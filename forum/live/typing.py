"""Who is writing: "alice is replying…" in the other pages open on a thread.

A signed-in page sends `{"type": "typing", "parent_id": …}` on its thread socket while its
reader types (at most one per TYPING_INTERVAL_SECONDS); this publishes a `typing` frame on the
thread's channel, so every process's sockets get it. Typing is presence, not a thread event:
no seq, never stored, never replayed.

- Throttled per member and thread, in each process: at most one frame per member per interval
  however often their pages signal (a member typing through two processes may get two).
- Only a member who may reply now counts: a suspended account's signals are dropped, and on a
  locked thread everyone's but the moderators' (read from the database when a frame would go
  out, so at most once per interval).
- The frame is "quiet" (forum.live.hub.Delivery.quiet): the member's own sockets and those of
  readers who muted them never get it.
- Nothing times out here: pages forget a writer TYPING_EXPIRES_SECONDS after their last frame,
  or when their reply arrives; a reply posted through the process that published its author's
  typing also publishes a "stopped" frame at once.
"""

from __future__ import annotations

import logging
import time

from forum.accounts.standing import is_moderator, is_suspended
from forum.live.hub import Delivery, Hub
from forum.live.render import encode_frame
from forum.visibility import counted_replies
from models import Article, Reply, User

log = logging.getLogger("forum.live")

#: At most one typing frame per member and thread this often (the page sends no more either).
TYPING_INTERVAL_SECONDS = 2.0
#: Pages drop a writer this long after their last frame (static/typing.js; documented here).
TYPING_EXPIRES_SECONDS = 6.0
#: Past this many throttle entries, the stale ones are swept.
_SWEEP_AT = 1024


def typing_frame(author_id: int, name: str, parent_id: int | None, stopped: bool) -> Delivery:
    """The frame saying name is replying under parent_id (None: to the article), or stopped."""
    frame = {"type": "typing", "author": name, "parent_id": parent_id, "stopped": stopped}
    return Delivery(frames={"*": encode_frame(frame)}, author_id=author_id, quiet=True)


class LiveTyping:
    """Publishes who is typing in a thread, throttled per member."""

    def __init__(self, hub: Hub, *, interval: float = TYPING_INTERVAL_SECONDS) -> None:
        self._hub = hub
        self._interval = interval
        #: (article id, member id) -> when their last typing frame went out (monotonic).
        self._last: dict[tuple[int, int], float] = {}

    async def signal(
        self, channel: str, article_id: int, user_id: int, parent_id: int | None
    ) -> None:
        """A member's page says they are typing (a reply to parent_id, or to the article)."""
        key = (article_id, user_id)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return
        # Taken before any await: a second signal arriving meanwhile is throttled too.
        self._last[key] = now
        if len(self._last) > _SWEEP_AT:
            self._sweep(now)
        try:
            delivery = await self._typing(article_id, user_id, parent_id)
        except Exception:
            # Presence only (e.g. the database is unreachable): drop it, keep the socket.
            log.exception("could not check a typing signal in thread %s", article_id)
            return
        if delivery is not None:
            await self._publish(channel, delivery)

    async def _typing(
        self, article_id: int, user_id: int, parent_id: int | None
    ) -> Delivery | None:
        """The frame for the signal, or None when it does not count."""
        user = (
            await User.filter(id=user_id).only("id", "username", "suspended_until", "role").first()
        )
        if user is None or is_suspended(user):
            return None
        if not is_moderator(user) and await Article.filter(id=article_id, locked=True).exists():
            return None  # a locked thread takes replies from moderators only
        if (
            parent_id is not None
            and not await Reply.filter(
                counted_replies(), id=parent_id, article_id=article_id
            ).exists()
        ):
            # Only under a reply everyone sees: a hidden one's id must not be hinted at.
            return None
        return typing_frame(user.id, user.username, parent_id, False)

    async def posted(self, channel: str, article_id: int, author_id: int) -> None:
        """The member posted their reply: they are no longer typing (in every page at once).

        Only when this process published their typing in the last TYPING_EXPIRES_SECONDS: a
        post costs the thread no extra frame otherwise (pages also forget a writer whose reply
        arrives, for a post taken by another process than their socket)."""
        last = self._last.pop((article_id, author_id), None)  # their next reply shows at once
        if last is None or time.monotonic() - last > TYPING_EXPIRES_SECONDS:
            return
        author = await User.filter(id=author_id).only("id", "username").first()
        if author is not None:
            await self._publish(channel, typing_frame(author.id, author.username, None, True))

    async def _publish(self, channel: str, delivery: Delivery) -> None:
        try:
            await self._hub.publish(channel, delivery)
        except Exception:
            # Presence only: nothing is lost that a page needs (it expires the entry itself).
            log.exception("could not publish a typing frame on %s", channel)

    def _sweep(self, now: float) -> None:
        # Kept while pages may still show the writer, for posted()'s "stopped".
        keep = max(self._interval, TYPING_EXPIRES_SECONDS)
        for key in [key for key, at in self._last.items() if now - at >= keep]:
            del self._last[key]
