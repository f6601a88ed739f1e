"""Baseline for bench/live.py: a raw `websockets` server (asyncio API) fanning out with broadcast().

GET /live is a WebSocket (no compression, no keepalive pings, like the forum under the bench).
GET /publish?reply_id=N&sent_ns=T is answered over plain HTTP from process_request: it builds
one frame shaped like the forum's (padded to BASELINE_FRAME_BYTES) and hands it to
websockets.broadcast(), which writes to every socket without waiting for any. GET /health says
ready. Run `python bench/baselines/websockets_broadcast.py` with PORT set; it runs on uvloop,
as uvicorn does.
"""

from __future__ import annotations

import json
import os
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

#: Size of each frame; the bench sets it to the size of the forum's reply frame.
FRAME_BYTES = int(os.environ.get("BASELINE_FRAME_BYTES", "2000"))

connections: set[ServerConnection] = set()


def reply_frame(reply_id: int, sent_ns: int) -> str:
    """A frame with the forum's leading fields, padded to FRAME_BYTES."""
    head = {"type": "reply.posted", "seq": reply_id, "reply_id": reply_id, "sent_ns": sent_ns}
    frame = json.dumps({**head, "content": ""}, separators=(",", ":"))
    return frame[:-2] + "x" * max(FRAME_BYTES - len(frame), 0) + '"}'


async def live(connection: ServerConnection) -> None:
    """Hold a reader's socket until it leaves (anything it sends is read and dropped)."""
    connections.add(connection)
    try:
        async for _ in connection:
            pass
    finally:
        connections.discard(connection)


def route(connection: ServerConnection, request: Request) -> Response | None:
    """Answer /health and /publish over HTTP; let /live through to the handshake."""
    url = urlsplit(request.path)
    if url.path == "/health":
        return connection.respond(HTTPStatus.OK, "ok\n")
    if url.path == "/publish":
        query = parse_qs(url.query)
        broadcast(connections, reply_frame(int(query["reply_id"][0]), int(query["sent_ns"][0])))
        return connection.respond(HTTPStatus.OK, "sent\n")
    if url.path != "/live":
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None


async def main() -> None:
    """Serve on 127.0.0.1:PORT until terminated."""
    async with serve(
        live,
        "127.0.0.1",
        int(os.environ["PORT"]),
        process_request=route,
        compression=None,
        ping_interval=None,
        max_size=64 * 1024,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main())
