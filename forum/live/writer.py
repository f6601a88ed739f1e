"""Writing live frames straight onto uvicorn's WebSocket connections, below ASGI.

Why below ASGI: handing one event to thousands of sockets through ASGI costs every socket a task
wake-up and the send chains of Starlette and uvicorn, nearly half the server CPU of a delivery
(bench/live.py). python-websockets' broadcast() shows the way: serialise the frame once, write it
synchronously to every connection that can take it now, and never wait for one that cannot.

Under uvicorn's sans-I/O WebSocket protocol (its default, `--ws websockets-sansio`), the ASGI
`send` an app receives is that protocol's bound method; DirectWriteMiddleware keeps the protocol
in the scope, and write_now() writes through its websockets connection and transport, as
broadcast() does. With any other server or protocol there is none, and for a connection that is
not open, or whose transport is paused above its high-water mark (a reader that stopped reading),
write_now() declines: the caller then takes the ordinary ASGI path, which waits.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from forum.live.hub import Delivery

log = logging.getLogger("forum.live")

#: Where DirectWriteMiddleware leaves a WebSocket's uvicorn protocol in its scope.
SCOPE_KEY = "forum.live.protocol"


class DirectWriteMiddleware:
    """Outermost ASGI layer: note the uvicorn protocol behind a WebSocket's `send`, if any."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if isinstance(protocol, WebSocketsSansIOProtocol):
                scope[SCOPE_KEY] = protocol
        await self.app(scope, receive, send)


def direct_protocol(scope: Scope) -> WebSocketsSansIOProtocol | None:
    """The uvicorn protocol a WebSocket's frames can be written to directly, or None."""
    protocol = scope.get(SCOPE_KEY)
    return protocol if isinstance(protocol, WebSocketsSansIOProtocol) else None


def write_now(protocol: WebSocketsSansIOProtocol, delivery: Delivery, frame: str) -> bool:
    """Write frame (one of delivery's) to the socket now, without waiting; False when the
    socket cannot take it now (not open, or its transport is paused), and nothing was sent.

    The wire form of a server's frame is the same for every connection without extensions, so
    it is serialised once per delivery and frame (kept in delivery.wire). A compressed
    connection keeps its own state, so each gets its own frame.
    """
    conn = protocol.conn
    transport = protocol.transport
    if (
        conn.state is not State.OPEN
        or conn.expect_continuation_frame
        or not protocol.writable.is_set()
        or transport.is_closing()
    ):
        return False
    try:
        if conn.extensions:
            conn.send_text(frame.encode())
            transport.write(b"".join(conn.data_to_send()))
            return True
        wire = delivery.wire.get(frame)
        if wire is None:
            wire = Frame(Opcode.TEXT, frame.encode()).serialize(mask=False)
            delivery.wire[frame] = wire
        transport.write(wire)
    except Exception:
        # The caller is fanning out to everyone else: one broken socket must not stop it.
        log.exception("direct write failed; the socket falls back to ASGI")
        return False
    return True
