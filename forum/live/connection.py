"""One open thread page on the server: what it is sent, in order, and when it is closed.
The handshake that opens it is forum.live.endpoint; the protocol is documented in docs/live.md."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from starlette.websockets import WebSocket, WebSocketDisconnect

from forum.boundary import parse_json
from forum.live.accounts import (
    ACCOUNT_CLOSE_CODES,
    CLOSE_SIGNED_OUT,
    account_closing,
)
from forum.live.hub import Delivery, Lagging, Subscriber
from forum.live.threads import LiveThreads, thread_channel
from forum.live.writer import DirectSocket, direct_socket
from forum.validation import ValidationError
from forum.visibility import viewer_kind
from models import Session, User

log = logging.getLogger("forum.live")

#: Close codes (docs/live.md). 1013 makes htmx's ws extension reconnect, and then resume.
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_FELL_BEHIND = 1013
#: The visitor or its address holds as many thread sockets as LIVE_SOCKETS_PER_VISITOR /
#: LIVE_SOCKETS_PER_ADDRESS allow: do not reconnect (htmx's ws extension does not, on 4xxx).
CLOSE_TOO_MANY_SOCKETS = 4429
MAX_FRAME_CHARS = 64 * 1024
#: A client may send this many frames per window (resume requests are all it needs).
CLIENT_FRAMES_PER_WINDOW, CLIENT_WINDOW_SECONDS = 20, 10.0
#: How long a live event that overtook an earlier one waits for it before the gap is read from
#: the stream instead (concurrent writers, or processes, publish in commit order only roughly).
REORDER_WAIT_SECONDS = 1.0


#: How a socket's task may end without anything being wrong.
EXPECTED_ENDINGS = (asyncio.CancelledError, WebSocketDisconnect, Lagging)


async def settle(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Wait for a socket's tasks (cancelled or done); log any that failed for a reason other
    than the socket ending, with its cause, rather than let it pass in silence."""
    for task in tasks:
        try:
            await task
        except EXPECTED_ENDINGS:
            pass
        except ProtocolViolation:
            pass  # the client's fault: closed with its code
        except Exception:
            log.exception("a live socket's task %s failed", task.get_name())


class ProtocolViolation(Exception):
    """The client sent something the protocol does not allow."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ThreadConnection:
    """One open page: replays what it missed, then forwards live frames in order.

    In the steady state (nothing queued, held back, or being sent) a live frame is written by
    the hub's fan-out itself, through forum.live.writer, and no task wakes up; anything else
    goes through the sender task and ASGI, which wait.
    """

    # Thousands are open at once: no per-instance dict.
    __slots__ = (
        "_closing",
        "_direct",
        "_frame_times",
        "_holding",
        "article_id",
        "kind",
        "live",
        "muted",
        "send_lock",
        "sent_seq",
        "session",
        "user_id",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        live: LiveThreads,
        article_id: int,
        viewer: User | None,
        seen_seq: int,
        session: Session | None = None,
        muted: frozenset[int] = frozenset(),
    ) -> None:
        self.websocket = websocket
        self.live = live
        # Only the id: thousands of sockets must not each hold the article's text.
        self.article_id = article_id
        self.kind = viewer_kind(viewer)
        self.user_id = viewer.id if viewer else None
        #: The members the viewer muted: their replies come in the collapsed frames.
        self.muted = muted
        #: Highest stream position this socket has been sent (or told to refresh to); starts at
        #: the stream's end when the socket opened, so a silent client gets events from then on.
        self.sent_seq = seen_seq
        self.send_lock = asyncio.Lock()
        self._frame_times: list[float] = []
        #: Where live frames are written without waiting, once accepted (None: through ASGI).
        self._direct: DirectSocket | None = None
        #: Whether the sender task holds back events that overtook earlier ones.
        self._holding = False
        #: The viewer's session: the socket shows what it may see only while it lasts.
        self.session = session
        #: Set when the account's close notice arrives: from then on nothing else is forwarded.
        self._closing: int | None = None

    async def run(self, subscriber: Subscriber, personal: Subscriber | None) -> None:
        """Serve the socket until the client leaves, misbehaves, falls behind, or is suspended."""
        sender = asyncio.create_task(self._send_live(subscriber))
        receiver = asyncio.create_task(self._receive())
        tasks = {sender, receiver}
        if personal is not None:
            tasks.add(asyncio.create_task(self._send_personal(personal)))
            personal.watch = self._watch_account
        if self.session is not None:
            tasks.add(asyncio.create_task(self._expire(self.session)))

        def cut_off() -> None:
            for task in tasks:
                task.cancel()

        subscriber.on_lag = cut_off
        self._direct = direct_socket(self.websocket.scope)
        if self._direct is not None:
            subscriber.direct = self._write_now
        if personal is not None:
            personal.on_lag = cut_off
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await settle(tasks)
        if receiver in done and isinstance(receiver.exception(), ProtocolViolation):
            violation = receiver.exception()
            assert isinstance(violation, ProtocolViolation)
            await self._close(violation.code, violation.reason)
        elif self._closing is not None:
            await self._close(self._closing, "account changed")
        elif subscriber.lagging or (personal is not None and personal.lagging):
            self.live.counters.closed_too_slow += 1
            await self._close(CLOSE_FELL_BEHIND, "fell behind; reconnect and resume")

    def _concerns_me(self, delivery: Delivery) -> bool:
        """Whether an account notice is for this socket (a session's sign-out is for its own)."""
        if delivery.close_code not in ACCOUNT_CLOSE_CODES:
            return False
        own = self.session.id if self.session is not None else None
        return delivery.session_id is None or delivery.session_id == own

    def _watch_account(self, delivery: Delivery) -> None:
        """Called as the user's channel is offered a delivery (see Subscriber.watch): an account
        notice stops every other frame at once, before it is even sent; a mute or unmute
        applies to the thread frames that follow it."""
        if delivery.mute is not None:
            member_id, muted = delivery.mute
            self.muted = self.muted | {member_id} if muted else self.muted - {member_id}
        if self._concerns_me(delivery) and self._closing is None:
            self._closing = delivery.close_code

    async def _send_personal(self, personal: Subscriber) -> None:
        """Forward the user's own frames (bell, follow state); returns once the account's close
        notice is sent."""
        with contextlib.suppress(Lagging):
            while True:
                delivery = await personal.next()
                if delivery.session_id is not None and not self._concerns_me(delivery):
                    continue  # another session's notice
                async with self.send_lock:
                    await self._send(delivery)
                if self._concerns_me(delivery):
                    return
        raise Lagging()

    async def _expire(self, session: Session) -> None:
        """Close the socket when its session expires (4401), as a sign-out would."""
        await asyncio.sleep(max(0.0, (session.expires_at - datetime.now(UTC)).total_seconds()))
        self._closing = CLOSE_SIGNED_OUT
        message = "Your session has expired: sign in again to reply."
        async with self.send_lock:
            await self._send(account_closing(CLOSE_SIGNED_OUT, message))

    async def _close(self, code: int, reason: str) -> None:
        # A reader that stopped reading may never take the close frame: do not wait for it long.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code=code, reason=reason), timeout=2)

    async def _send_live(self, subscriber: Subscriber) -> None:
        # Events are published after their commits, so one may overtake another: hold it until
        # the earlier ones arrive (or read them from the stream), and send each once, in order.
        early: dict[int, Delivery] = {}
        deadline: float | None = None
        with contextlib.suppress(Lagging):
            while True:
                delivery: Delivery | None = None
                if deadline is None:
                    # The usual case, kept lean: a wait allocates nothing but its future.
                    delivery = await subscriber.next()
                else:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(deadline):
                            delivery = await subscriber.next()
                async with self.send_lock:
                    if delivery is not None and delivery.resync:
                        # The broker was lost for a while: what it dropped is in the stream.
                        await self._replay(self.sent_seq, await self.live.last_seq(self.article_id))
                    elif delivery is not None and delivery.seq is None:
                        await self._send(delivery)
                    elif delivery is not None and delivery.seq is not None:
                        early[delivery.seq] = delivery
                    for seq in [seq for seq in early if seq <= self.sent_seq]:
                        del early[seq]  # already replayed
                    if delivery is None and early:
                        await self._replay(self.sent_seq, min(early) - 1)
                    while self.sent_seq + 1 in early:
                        self.sent_seq += 1
                        await self._send(early.pop(self.sent_seq))
                self._holding = bool(early)
                if not early:
                    deadline = None
                elif deadline is None:
                    deadline = asyncio.get_running_loop().time() + REORDER_WAIT_SECONDS

    def _write_now(self, delivery: Delivery) -> bool:
        """Send a live delivery from within the hub's fan-out when nothing is ahead of it (see
        Subscriber.direct); False leaves it to the sender task."""
        seq = delivery.seq
        if self._closing is not None:
            return True  # the account changed: drop it
        if delivery.resync:
            return False  # reads the stream: the sender task's work
        if self._holding or self.send_lock.locked() or delivery.close_code is not None:
            return False
        if seq is not None:
            if seq <= self.sent_seq:
                return True  # replayed already
            if seq != self.sent_seq + 1:
                return False  # overtook an earlier event: the sender task holds it back
        frame = delivery.frame_for(self.kind, self.user_id, self.muted)
        if frame is not None:
            if self._direct is None or not self._direct.write(delivery, frame):
                return False
            self.live.counters.frames_sent += 1
        if seq is not None:
            self.sent_seq = seq
        return True

    async def _send(self, delivery: Delivery) -> None:
        """Send one delivery in its turn (call holding send_lock, so that nothing sent through
        ASGI is still waiting: a direct write then keeps the order)."""
        if self._closing is not None and delivery.close_code is None:
            return  # the account changed: only its close notice goes out now
        frame = delivery.frame_for(self.kind, self.user_id, self.muted)
        if frame is not None:
            # A replay's deliveries are shared by every socket that asks for the same gap (as
            # after a restart): written directly, each frame is serialised once for them all.
            if self._direct is None or not self._direct.write(delivery, frame):
                await self.websocket.send_text(frame)
            self.live.counters.frames_sent += 1

    async def _replay(self, after_seq: int, up_to: int) -> None:
        """Send the events after after_seq up to up_to from the stream, or refresh when that gap
        cannot be replayed whole (call holding send_lock)."""
        deliveries = await self.live.replay(self.article_id, after_seq, up_to)
        if self._closing is not None:
            return
        if deliveries is None:
            await self.websocket.send_text(self.live.renderer.refresh(up_to))
            self.live.counters.frames_sent += 1
        else:
            for delivery in deliveries:
                await self._send(delivery)
        self.sent_seq = max(self.sent_seq, up_to)

    async def _receive(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                raise ProtocolViolation(CLOSE_POLICY, "send text frames")
            if len(text) > MAX_FRAME_CHARS:
                raise ProtocolViolation(CLOSE_TOO_BIG, "frame too large")
            self._count_frame()
            await self._handle(text)

    def _count_frame(self) -> None:
        now = time.monotonic()
        self._frame_times = [t for t in self._frame_times if now - t < CLIENT_WINDOW_SECONDS]
        self._frame_times.append(now)
        if len(self._frame_times) > CLIENT_FRAMES_PER_WINDOW:
            raise ProtocolViolation(CLOSE_POLICY, "too many frames")

    async def _handle(self, text: str) -> None:
        try:
            request = parse_json(text)
        except ValidationError as refused:
            raise ProtocolViolation(CLOSE_POLICY, "frames must be JSON") from refused
        if not isinstance(request, dict):
            raise ProtocolViolation(CLOSE_POLICY, "frames must be JSON objects")
        kind = request.get("type")
        if kind == "ping":
            return
        if kind == "typing":
            await self._typing(request.get("parent_id"))
            return
        last_seq = request.get("last_seq")
        if kind != "resume" or isinstance(last_seq, bool) or not isinstance(last_seq, int):
            raise ProtocolViolation(CLOSE_POLICY, "expected {type: resume, last_seq: int}")
        await self._resume(last_seq)

    async def _typing(self, parent_id: object) -> None:
        if parent_id is not None and (
            isinstance(parent_id, bool) or not isinstance(parent_id, int) or parent_id < 1
        ):
            raise ProtocolViolation(CLOSE_POLICY, "expected {type: typing, parent_id: int|null}")
        if self.user_id is None:
            return  # a signed-out reader's signal: ignored, not a violation
        await self.live.typing.signal(
            thread_channel(self.article_id), self.article_id, self.user_id, parent_id
        )

    async def _resume(self, last_seq: int) -> None:
        async with self.send_lock:
            await self._replay(last_seq, await self.live.last_seq(self.article_id))
