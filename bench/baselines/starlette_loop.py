"""Baseline for bench/live.py: a bare Starlette app that sends each message to every socket in turn.

GET /live (WebSocket) adds the socket to a set until it goes away. POST /publish with
{"reply_id": N, "sent_ns": T} builds one frame shaped like the forum's (the same leading fields,
padded to BASELINE_FRAME_BYTES) and awaits send_text on each socket, one after the other.
Served by uvicorn like the forum: `uvicorn --app-dir bench/baselines starlette_loop:app`.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.config import Config
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

config = Config()
#: Size of each frame; the bench sets it to the size of the forum's reply frame.
FRAME_BYTES = config("BASELINE_FRAME_BYTES", cast=int, default=2_000)

sockets: set[WebSocket] = set()


def reply_frame(reply_id: int, sent_ns: int) -> str:
    """A frame with the forum's leading fields, padded to FRAME_BYTES."""
    head = {"type": "reply.posted", "seq": reply_id, "reply_id": reply_id, "sent_ns": sent_ns}
    frame = json.dumps({**head, "content": ""}, separators=(",", ":"))
    return frame[:-2] + "x" * max(FRAME_BYTES - len(frame), 0) + '"}'


async def live(websocket: WebSocket) -> None:
    """Hold a reader's socket until it leaves."""
    await websocket.accept()
    sockets.add(websocket)
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sockets.discard(websocket)


async def publish(request: Request) -> Response:
    """Send one frame to every socket in turn."""
    data = await request.json()
    frame = reply_frame(int(data["reply_id"]), int(data["sent_ns"]))
    for websocket in tuple(sockets):
        try:
            await websocket.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            sockets.discard(websocket)
    return Response(status_code=204)


async def health(request: Request) -> Response:
    """Ready."""
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/publish", publish, methods=["POST"]),
        WebSocketRoute("/live", live),
    ]
)
