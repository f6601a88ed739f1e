"""Writing live frames straight onto uvicorn's WebSocket connections, below ASGI.

Why below ASGI: handing one event to thousands of sockets through ASGI costs every socket a task
wake-up and the send chains of Starlette and uvicorn, nearly half the server CPU of a delivery
(bench/live.py). python-websockets' broadcast() shows the way: serialise the frame once, write it
synchronously to every connection that can take it now, and never wait for one that cannot.

Under uvicorn's sans-I/O WebSocket protocol (its default, `--ws websockets-sansio`), the ASGI
`send` an app receives is that protocol's bound method, which holds the websockets connection
and the transport; DirectWriteMiddleware keeps the protocol in the scope. A DirectSocket writes
to them as broadcast() does, with the frame serialised once for every socket. With any other
server or protocol, or with per-message compression (each connection compresses with its own
state), there is no DirectSocket; for a connection that is no longer open, or whose transport
is paused above its high-water mark (a reader that stopped reading), DirectSocket.write()
declines. Either way the caller takes the ordinary ASGI path, which waits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from forum.live.hub import Delivery

log = logging.getLogger("forum.live")

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - another uvicorn: every frame goes through ASGI
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]
    log.warning("uvicorn's sans-I/O WebSocket protocol is not there: no direct live writes")

#: Where DirectWriteMiddleware leaves a WebSocket's uvicorn protocol in its scope.
SCOPE_KEY = "forum.live.protocol"


class DirectWriteMiddleware:
    """Outermost ASGI layer: note the uvicorn protocol behind a WebSocket's `send`, if any."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        #: LIVE_DIRECT_WRITES=off: every frame goes through ASGI.
        self.enabled = enabled and WebSocketsSansIOProtocol is not None

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself, so that no frame of it stays suspended for each open socket;
        # a weak reference, since the protocol holds the scope.
        if self.enabled and scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if isinstance(protocol, WebSocketsSansIOProtocol):
                scope[SCOPE_KEY] = weakref.ref(protocol)
        return self.app(scope, receive, send)


class DirectSocket:
    """One accepted WebSocket under uvicorn, written to without waiting.

    It keeps the three objects a write needs rather than reaching them through uvicorn's
    protocol: a fan-out touches thousands of sockets, and each object less is memory the CPU
    does not have to fetch.
    """

    __slots__ = ("_conn", "_transport", "_writable")

    def __init__(self, conn: ServerProtocol, transport: asyncio.Transport, writable: asyncio.Event):
        self._conn = conn
        self._transport = transport
        self._writable = writable

    def write(self, delivery: Delivery, frame: str) -> bool:
        """Write frame (one of delivery's) now; False, having sent nothing, when the socket
        cannot take it now: not open, or its transport paused."""
        conn = self._conn
        transport = self._transport
        if (
            conn.state is not State.OPEN
            or conn.expect_continuation_frame
            or not self._writable.is_set()
            or transport.is_closing()
        ):
            return False
        # Without extensions, a server's frame is the same bytes on every connection.
        wire = delivery.wire.get(frame)
        if wire is None:
            wire = Frame(Opcode.TEXT, frame.encode()).serialize(mask=False)
            delivery.wire[frame] = wire
        try:
            transport.write(wire)
        except Exception:
            # The caller is fanning out to everyone else: one broken socket must not stop it.
            log.exception("a direct write failed; the socket falls back to ASGI")
            return False
        return True


def direct_socket(scope: Scope) -> DirectSocket | None:
    """A DirectSocket for an accepted WebSocket, or None when its frames must go through ASGI
    (another server or protocol, or per-message compression)."""
    reference = scope.get(SCOPE_KEY)
    protocol = reference() if isinstance(reference, weakref.ref) else None
    if WebSocketsSansIOProtocol is None or not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    # uvicorn's internals, checked rather than trusted: any mismatch after an upgrade means
    # the ASGI path, said once in the log, never a broken socket.
    conn = getattr(protocol, "conn", None)
    transport = getattr(protocol, "transport", None)
    writable = getattr(protocol, "writable", None)
    if not (
        isinstance(conn, ServerProtocol)
        # uvloop's transports are not asyncio.Transport subclasses: what a write uses is checked.
        and callable(getattr(transport, "write", None))
        and callable(getattr(transport, "is_closing", None))
        and isinstance(writable, asyncio.Event)
    ):
        _mismatch()
        return None
    if conn.extensions:
        return None
    return DirectSocket(conn, transport, writable)  # type: ignore[arg-type]


@functools.cache
def _mismatch() -> None:
    log.warning("uvicorn's WebSocket protocol is not as expected: live frames go through ASGI")
