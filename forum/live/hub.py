"""The hub: one backend subscription per channel per process, fanned out to bounded local queues.

Modelled on encode/broadcaster, with the python-websockets lesson applied: fan-out never waits
for the slowest reader. Each subscriber has a bounded queue; one that falls behind is marked
lagging and its connection is closed, while everyone else keeps receiving on time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from forum.live.backends import Backend

log = logging.getLogger("forum.live")

#: The payload for any kind of viewer that has no payload of its own.
ANY_VIEWER = "*"
#: Added to a viewer kind: the key of that kind's frame with the reply collapsed, for viewers
#: who muted its author.
MUTED_SUFFIX = ":muted"


@dataclass(frozen=True)
class Delivery:
    """One message for a channel, already rendered and encoded for each kind of viewer."""

    #: The frame to send, by viewer kind (see forum.visibility.viewer_kind); "*" for everyone.
    frames: dict[str, str]
    #: The article stream position, for thread events; None for presence and notices.
    seq: int | None = None
    #: Close the receiving sockets with this code once the frame is sent (e.g. suspension).
    close_code: int | None = None
    #: On a user's channel: meant only for the sockets of this session (e.g. its sign-out).
    session_id: int | None = None
    #: Only in this process, never published: the broker was unreachable for a while, so
    #: deliveries may have been lost; thread sockets read what they missed from the stream.
    resync: bool = False
    #: The author of the reply a thread frame shows: a viewer who muted them gets the frame
    #: of its kind rendered collapsed (see frame_for), when there is one.
    author_id: int | None = None
    #: On a user's channel: (member id, muted or not) when the user muted or unmuted someone,
    #: so that the user's open sockets choose their frames by the new set at once.
    mute: tuple[int, bool] | None = None
    #: A frame about author_id's presence (who is typing, forum.live.typing): never sent to
    #: the author themselves, nor to a viewer who muted them.
    quiet: bool = False
    #: Frames serialised for the wire, by frame text: made once for all the sockets that get
    #: them (filled by forum.live.writer).
    wire: dict[str, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def frame_for(
        self, viewer_kind: str, user_id: int | None = None, muted: frozenset[int] = frozenset()
    ) -> str | None:
        """The frame this viewer gets: one meant for this user alone, else, when the viewer
        muted the reply's author, its kind's collapsed one, else the one for its kind (or for
        everyone); None when it gets nothing (e.g. a quiet frame about itself or someone it
        muted)."""
        if self.quiet and self.author_id is not None and self.author_id in (muted | {user_id}):
            return None
        if user_id is not None:
            own = self.frames.get(f"user:{user_id}")
            if own is not None:
                return own
        if self.author_id is not None and self.author_id in muted:
            collapsed = self.frames.get(viewer_kind + MUTED_SUFFIX)
            if collapsed is not None:
                return collapsed
        return self.frames.get(viewer_kind, self.frames.get(ANY_VIEWER))

    def encode(self) -> str:
        """The wire form between processes."""
        return json.dumps(
            {
                "seq": self.seq,
                "frames": self.frames,
                "close": self.close_code,
                "session": self.session_id,
                "author": self.author_id,
                "mute": self.mute,
                "quiet": self.quiet,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, message: str) -> Delivery:
        """Read a delivery published by any process."""
        data = json.loads(message)
        return cls(
            frames=data["frames"],
            seq=data["seq"],
            close_code=data.get("close"),
            session_id=data.get("session"),
            author_id=data.get("author"),
            mute=tuple(data["mute"]) if data.get("mute") else None,
            quiet=bool(data.get("quiet")),
        )


#: Offered to every local subscriber once the broker is reachable again (see Hub.reconnected).
RESYNC = Delivery(frames={}, resync=True)


class Lagging(Exception):
    """The subscriber fell further behind than its queue allows."""


class Backlog(list[Delivery]):
    """A subscriber's deliveries not yet taken, oldest first: a list, which costs an idle
    socket 56 bytes where a deque costs over 600 (and holds at most LIVE_QUEUE_SIZE items)."""

    def empty(self) -> bool:
        """Whether nothing is waiting."""
        return not self

    def popleft(self) -> Delivery:
        """Take the oldest."""
        return self.pop(0)


@dataclass(eq=False, slots=True)
class Subscriber:
    """One local listener of a channel, e.g. one WebSocket, with a bounded backlog.

    Built for fan-out to thousands: a delivery offered while the reader waits with nothing
    pending goes first to `direct`, which may write it out on the spot (like websockets'
    broadcast(), no task wakes up); otherwise it is handed to the waiting future. Waiting
    creates that one future and nothing else (no queue, no coroutine), so a socket costs little
    memory and a fan-out leaves little for the garbage collector. One reader at a time per
    subscriber.
    """

    limit: int
    queue: Backlog = field(default_factory=Backlog)
    lagging: bool = False
    #: Called once when the subscriber starts lagging, e.g. to cut a socket stuck in a send.
    on_lag: Callable[[], None] | None = None
    #: Tried first while the reader waits with nothing pending: sends the delivery at once and
    #: returns True, or returns False (without sending) to have it handed to the reader. Called
    #: inside the hub's fan-out loop, so it must neither block nor raise.
    direct: Callable[[Delivery], bool] | None = None
    #: Sees every delivery as it is offered, before it is queued or sent (e.g. so that a socket
    #: stops forwarding the moment its account's close notice arrives). Must neither block nor
    #: raise.
    watch: Callable[[Delivery], None] | None = None
    _waiter: asyncio.Future[Delivery] | None = field(default=None, repr=False)

    def offer(self, delivery: Delivery) -> None:
        """Queue a delivery without waiting; past the limit, mark the subscriber lagging."""
        if self.lagging:
            return
        if self.watch is not None:
            self.watch(delivery)
        waiter = self._waiter
        if waiter is not None and not waiter.done():  # done: its reader was cancelled
            if self.direct is not None and self.direct(delivery):
                return  # sent; the reader goes on waiting for the next one
            self._waiter = None
            waiter.set_result(delivery)
            return
        self._waiter = None
        if len(self.queue) >= self.limit:
            self.lagging = True
            if self.on_lag is not None:
                self.on_lag()
            return
        self.queue.append(delivery)

    def next(self) -> asyncio.Future[Delivery]:
        """The next delivery, to await; raises Lagging once the subscriber has fallen behind
        (after the deliveries queued before it did)."""
        waiter: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        if self.queue:
            waiter.set_result(self.queue.popleft())
        elif self.lagging:
            waiter.set_exception(Lagging())
        else:
            self._waiter = waiter
        return waiter


class Hub:
    """Publish to a channel from any process; subscribe locally with a bounded queue."""

    def __init__(self, backend: Backend, *, queue_size: int = 256) -> None:
        self._backend = backend
        self._queue_size = queue_size
        self._channels: dict[str, set[Subscriber]] = {}
        self._channel_lock = asyncio.Lock()
        self._reconnect_listeners: list[Callable[[], None]] = []
        #: Sockets joining (or joined) by channel, counted from before they read the stream.
        self._joining: dict[str, int] = {}

    async def start(self) -> None:
        """Connect the backend."""
        await self._backend.connect(self._dispatch, self.reconnected)

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call listener each time the broker is reachable again after it was lost."""
        self._reconnect_listeners.append(listener)

    def reconnected(self) -> None:
        """The broker came back: whatever was published meanwhile never reached this process,
        so every subscriber is told to catch up (thread sockets replay from the database)."""
        log.warning("the broker is reachable again; local subscribers catch up")
        for listeners in tuple(self._channels.values()):
            for subscriber in tuple(listeners):
                subscriber.offer(RESYNC)
        for listener in self._reconnect_listeners:
            listener()

    async def stop(self) -> None:
        """Disconnect the backend."""
        await self._backend.disconnect()

    @property
    def backend(self) -> Backend:
        """The backend, for presence reports."""
        return self._backend

    async def publish(self, channel: str, delivery: Delivery) -> None:
        """Send a delivery to every subscriber of channel, in every process."""
        await self._backend.publish(channel, delivery.encode())

    async def listened(self, channel: str) -> bool:
        """Whether a subscriber of channel may exist, here or in another process. Asked after
        a commit: a socket counts from the moment it starts joining (see joining), before it
        reads where the stream ends, so an event it would not replay is never skipped."""
        if self._channels.get(channel) or self._joining.get(channel):
            return True
        return await self._backend.listened(channel)

    @contextmanager
    def joining(self, channel: str) -> Iterator[None]:
        """Held by a socket from before it reads the stream's end (and, simplest, for its
        life: once subscribed it counts anyway)."""
        self._joining[channel] = self._joining.get(channel, 0) + 1
        try:
            yield
        finally:
            left = self._joining[channel] - 1
            if left:
                self._joining[channel] = left
            else:
                del self._joining[channel]

    def local_count(self, channel: str) -> int:
        """How many subscribers this process has on channel."""
        return len(self._channels.get(channel, ()))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        """Listen to channel for the duration of the block (it cannot leak)."""
        subscriber = Subscriber(limit=self._queue_size)
        async with self._channel_lock:
            listeners = self._channels.setdefault(channel, set())
            if not listeners:
                await self._backend.subscribe(channel)
            listeners.add(subscriber)
        try:
            yield subscriber
        finally:
            async with self._channel_lock:
                listeners = self._channels.get(channel, set())
                listeners.discard(subscriber)
                if not listeners:
                    self._channels.pop(channel, None)
                    await self._backend.unsubscribe(channel)

    def _dispatch(self, channel: str, message: str) -> None:
        listeners = self._channels.get(channel)
        if not listeners:
            return
        try:
            delivery = Delivery.decode(message)
        except (ValueError, KeyError):
            log.warning("dropping a malformed hub message on %s", channel)
            return
        for subscriber in tuple(listeners):
            subscriber.offer(delivery)
