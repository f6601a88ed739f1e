"""'N reading now': how many readers have a thread open, summed over every server process.

Each process counts its distinct readers (forum.live.readers) and reports that number; the
total adds the processes' numbers, so one reader with pages on two processes counts twice.

Every announcement is a frame to every socket on the thread, and every join or leave calls for
one: after a restart, N readers rejoining would cost N frames each, O(N^2). So changes are
coalesced (trailing edge: the count announced is the one when the window closes, so the last
is always right), and the window is long enough that announcements cost each thread at most
FRAMES_PER_SECOND frames a second in this process: 0.25 s up to 1,250 sockets, 1 s at 5,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from forum.live.hub import Hub
from forum.live.readers import Readers
from forum.live.render import FrameRenderer

log = logging.getLogger("forum.live")

#: The most presence frames one thread's announcements may cost a second, in one process.
FRAMES_PER_SECOND = 5_000


class Presence:
    """Reports this process's readers per channel and publishes the total, coalesced (see the
    module's docstring): debounce is the shortest window."""

    def __init__(
        self,
        hub: Hub,
        renderer: FrameRenderer,
        readers: Readers,
        *,
        debounce: float = 0.25,
        frames_per_second: int = FRAMES_PER_SECOND,
    ) -> None:
        self._hub = hub
        #: This process's readers per thread, and the caps on their sockets.
        self.readers = readers
        self._renderer = renderer
        self._debounce = debounce
        self._frames_per_second = frames_per_second
        self._node = uuid.uuid4().hex
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tracked: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    def start(self, heartbeat_seconds: float = 15.0) -> None:
        """Refresh this process's counts periodically, so a crashed process stops counting."""
        self._heartbeat = asyncio.create_task(self._beat(heartbeat_seconds), name="presence")

    async def stop(self) -> None:
        """Stop the heartbeat and pending reports, then report this process's last counts."""
        for handle in self._pending.values():
            handle.cancel()
        for task in (*self._tasks, *([self._heartbeat] if self._heartbeat else [])):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The sockets are closed by now: without this, the other processes would go on counting
        # them until the heartbeat's entry expires.
        for channel in tuple(self._tracked):
            await self._flush(channel, announce=True)

    def resync(self) -> None:
        """The broker was lost (a restarted Redis forgets every count): report and announce
        this process's counts again now rather than at the next heartbeat."""
        for channel in tuple(self._tracked):
            self.changed(channel)

    def changed(self, channel: str) -> None:
        """A reader joined or left channel: publish the new total shortly (changes until then
        are announced with it)."""
        self._tracked.add(channel)
        if channel not in self._pending:
            # Each announcement is a frame to every socket here on the thread.
            window = max(self._debounce, self._hub.local_count(channel) / self._frames_per_second)
            loop = asyncio.get_running_loop()
            self._pending[channel] = loop.call_later(window, self._flush_soon, channel)

    def _flush_soon(self, channel: str) -> None:
        self._pending.pop(channel, None)
        task = asyncio.create_task(self._flush(channel, announce=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, channel: str, *, announce: bool) -> None:
        local = self.readers.count(channel)
        try:
            total = await self._hub.backend.report_presence(channel, self._node, local)
            if announce:
                await self._hub.publish(channel, self._renderer.presence(total))
        except Exception:
            log.exception("could not report presence on %s", channel)
        if local == 0:
            self._tracked.discard(channel)

    async def _beat(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            for channel in tuple(self._tracked):
                await self._flush(channel, announce=False)
