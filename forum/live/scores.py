"""Live scores: a reply's score reaches the thread's open pages, at most one frame per reply per
interval, however many votes arrive.

Votes are no thread events (they take no place in the stream, a burst cannot crowd replies out
of catch-up), so they are throttled here instead. Per reply, the first vote after a quiet
interval opens a window of `interval` seconds; votes inside it only mark the reply dirty; when
the window closes, the reply publishes once with its score read then (trailing edge), which
opens the next window. A burst of S seconds thus costs about S frames per reply (not S + 1, as
a frame at once for the first vote would add), others see a vote within `interval`, and the
last frame always carries the final score (the voter's own page has it from the answer). The
throttle is per server process: with several processes, each throttles the votes it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from forum.live.hub import Hub
from forum.live.render import FrameRenderer
from forum.live.threads import thread_channel
from forum.visibility import counted_replies
from models import Reply

log = logging.getLogger("forum.live")


class LiveScores:
    """Publishes reply scores to thread channels, throttled per reply."""

    def __init__(self, hub: Hub, renderer: FrameRenderer, *, interval: float = 1.0) -> None:
        self._hub = hub
        self._renderer = renderer
        self._interval = interval
        #: Replies inside their window: reply id -> (article id, whether a vote came since).
        self._windows: dict[int, tuple[int, bool]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def changed(self, article_id: int, reply_id: int) -> None:
        """A reply's score changed (the bus's handler of ReplyVoted)."""
        if reply_id not in self._windows:
            self._open_window(article_id, reply_id)
        self._windows[reply_id] = (article_id, True)

    def _open_window(self, article_id: int, reply_id: int) -> None:
        self._windows[reply_id] = (article_id, False)
        loop = asyncio.get_running_loop()
        self._timers[reply_id] = loop.call_later(self._interval, self._close_window, reply_id)

    def _close_window(self, reply_id: int) -> None:
        self._timers.pop(reply_id, None)
        article_id, dirty = self._windows.pop(reply_id)
        if not dirty:
            return
        self._open_window(article_id, reply_id)
        task = asyncio.create_task(self._publish(article_id, reply_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, article_id: int, reply_id: int) -> None:
        try:
            # Read when sent, not when voted: a coalesced frame carries the latest score.
            # Only while everyone sees the reply whole: a reply hidden or deleted meanwhile
            # sends no frame at all, not even a number under its id.
            row = await Reply.filter(counted_replies(), id=reply_id).only("id", "score").first()
            if row is not None:
                delivery = self._renderer.score(reply_id, row.score)
                await self._hub.publish(thread_channel(article_id), delivery)
        except Exception:
            # The vote is committed; the page shows the new score when next loaded.
            log.exception("could not publish the score of reply %s", reply_id)

    async def stop(self) -> None:
        """Drop pending windows and wait for frames on their way."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._windows.clear()
        for task in tuple(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
