"""The direct writer on its own (forum/live/writer.py): uvicorn's sans-I/O WebSocket protocol over
a real socket pair, in this process, and a client reading it with websockets' own protocol."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from starlette.types import Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from forum.live.hub import Delivery
from forum.live.writer import DirectWriteMiddleware, direct_socket

#: Generous, only so that a broken writer fails a test instead of hanging it.
TIMEOUT = 10


async def receive(sock: socket.socket) -> bytes:
    """What arrived on sock; fails at the end of the stream rather than reading it forever."""
    data = await asyncio.get_running_loop().sock_recv(sock, 65536)
    if not data:
        raise ConnectionError("the server closed the connection")
    return data


@dataclass
class Client:
    """The far end of the socket pair, reading with websockets' client protocol."""

    sock: socket.socket
    protocol: ClientProtocol
    frames: list[Frame] = field(default_factory=list)

    async def read(self, count: int) -> list[str]:
        """The texts of the next count frames."""
        async with asyncio.timeout(TIMEOUT):
            while len(self.frames) < count:
                self.protocol.receive_data(await receive(self.sock))
                self.frames += [e for e in self.protocol.events_received() if isinstance(e, Frame)]
        taken, self.frames = self.frames[:count], self.frames[count:]
        assert all(frame.opcode is Opcode.TEXT for frame in taken)
        return [bytes(frame.data).decode() for frame in taken]


@dataclass
class Accepted:
    """What the app saw once it accepted the WebSocket."""

    scope: Scope
    send: Send


@asynccontextmanager
async def uvicorn_websocket(
    *, deflate: bool, direct_writes: bool = True
) -> AsyncIterator[tuple[Accepted, Client]]:
    """An accepted WebSocket served by uvicorn's sans-I/O protocol, and its client."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[Accepted] = loop.create_future()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        accepted.set_result(Accepted(scope, send))
        message: Message = {}
        while message.get("type") != "websocket.disconnect":
            message = await receive()

    config = Config(
        app=DirectWriteMiddleware(app, enabled=direct_writes),
        interface="asgi3",
        ws="websockets-sansio",
        ws_per_message_deflate=deflate,
        ws_ping_interval=None,
        proxy_headers=False,
        log_config=None,
    )
    config.load()
    state = ServerState()
    server_end, client_end = socket.socketpair()
    # Small buffers, so that a client that does not read soon pauses the server's transport.
    for end in (server_end, client_end):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client_end.setblocking(False)
    transport, _ = await loop.connect_accepted_socket(
        lambda: WebSocketsSansIOProtocol(config, state, {}), server_end
    )
    extensions = [ClientPerMessageDeflateFactory()] if deflate else []
    client = Client(client_end, ClientProtocol(parse_uri("ws://test/live"), extensions=extensions))
    try:
        client.protocol.send_request(client.protocol.connect())
        await loop.sock_sendall(client_end, b"".join(client.protocol.data_to_send()))
        async with asyncio.timeout(TIMEOUT):
            while client.protocol.state is State.CONNECTING:
                client.protocol.receive_data(await receive(client_end))
            response = client.protocol.events_received()[0]
            assert isinstance(response, Response) and response.status_code == 101
            seen = await accepted
        yield seen, client
    finally:
        transport.close()
        client_end.close()
        for task in state.tasks:
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)


def delivery(n: int) -> Delivery:
    """A numbered delivery with one frame for readers and another for moderators."""
    frames = {kind: json.dumps({"n": n, "for": kind, "é": "ü"}) for kind in ("reader", "moderator")}
    return Delivery(frames=frames, seq=n)


def uvicorn_protocol(accepted: Accepted) -> WebSocketsSansIOProtocol:
    """The uvicorn protocol behind the app's `send`."""
    protocol = getattr(accepted.send, "__self__", None)
    assert isinstance(protocol, WebSocketsSansIOProtocol)
    return protocol


async def test_a_frame_is_written_at_once_and_reads_as_sent() -> None:
    async with uvicorn_websocket(deflate=False) as (accepted, client):
        socket = direct_socket(accepted.scope)
        assert socket is not None
        first, second = delivery(1), delivery(2)
        for sent in (first, second):
            assert socket.write(sent, sent.frames["reader"])
        assert socket.write(first, first.frames["moderator"])
        assert await client.read(3) == [
            first.frames["reader"],
            second.frames["reader"],
            first.frames["moderator"],
        ]
        # Each frame is serialised once, for every socket.
        assert set(first.wire) == set(first.frames.values())
        assert set(second.wire) == {second.frames["reader"]}


async def test_a_connection_whose_reader_stopped_is_not_written_to() -> None:
    async with uvicorn_websocket(deflate=False) as (accepted, client):
        socket = direct_socket(accepted.scope)
        assert socket is not None
        written = 0
        while socket.write(delivery(written + 1), "x" * 1000):
            written += 1
            assert written < 10_000, "the transport never paused"
        # Declined once the transport's buffer passed its high-water mark.
        protocol = uvicorn_protocol(accepted)
        assert not protocol.writable.is_set()
        assert written > 0
        # Reading catches up on everything written, and nothing else.
        assert await client.read(written) == ["x" * 1000] * written
        async with asyncio.timeout(TIMEOUT):
            await protocol.writable.wait()
        assert socket.write(delivery(written + 1), "after")
        assert await client.read(1) == ["after"]


async def test_a_closing_connection_is_not_written_to() -> None:
    async with uvicorn_websocket(deflate=False) as (accepted, client):
        socket = direct_socket(accepted.scope)
        assert socket is not None
        await accepted.send({"type": "websocket.close", "code": 1013})
        assert not socket.write(delivery(1), "too late")
        assert client.protocol.state is State.OPEN  # the close frame is on its way, unread


async def test_compressed_connections_and_other_servers_get_no_direct_socket() -> None:
    async with uvicorn_websocket(deflate=True) as (accepted, _):
        assert uvicorn_protocol(accepted).conn.extensions, "compression was agreed"
        assert direct_socket(accepted.scope) is None

    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    middleware = DirectWriteMiddleware(app)
    await middleware({"type": "websocket", "path": "/live"}, receive, send)
    await middleware({"type": "http", "path": "/"}, receive, send)
    assert [direct_socket(scope) for scope in scopes] == [None, None]


async def test_the_setting_turns_direct_writes_off() -> None:
    """LIVE_DIRECT_WRITES=off: every frame takes the ASGI path."""
    async with uvicorn_websocket(deflate=False, direct_writes=False) as (accepted, _):
        assert direct_socket(accepted.scope) is None


async def test_uvicorn_internals_that_do_not_match_mean_the_asgi_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An upgrade that changes the protocol's insides must not break a socket, only slow it."""
    async with uvicorn_websocket(deflate=False) as (accepted, _):
        protocol = uvicorn_protocol(accepted)
        real = protocol.conn
        protocol.conn = object()  # type: ignore[assignment]
        try:
            with caplog.at_level(logging.WARNING, logger="forum.live"):
                assert direct_socket(accepted.scope) is None
        finally:
            protocol.conn = real
    assert "not as expected" in caplog.text
