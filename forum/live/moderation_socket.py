"""The moderators' live socket, /mod/live: the flag queue updates without a reload."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from forum.accounts.identity import current_user
from forum.live.accounts import MODERATION_CHANNEL
from forum.live.endpoint import CLOSE_FELL_BEHIND, CLOSE_POLICY, origin_allowed
from forum.live.hub import Lagging, Subscriber
from forum.moderation.service import is_suspended
from forum.visibility import is_moderator


async def _forward(websocket: WebSocket, subscriber: Subscriber) -> None:
    while True:
        delivery = await subscriber.next()
        frame = delivery.frame_for("moderator")
        if frame is not None:
            await websocket.send_text(frame)


async def _drain(websocket: WebSocket) -> None:
    # Moderators' pages send nothing that matters; read to notice the close.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def moderation_socket(websocket: WebSocket) -> None:
    """Flag-queue updates for signed-in, active moderators only."""
    state = websocket.app.state
    user = await current_user(websocket)
    allowed = user is not None and is_moderator(user) and not is_suspended(user)
    if not allowed or not origin_allowed(websocket, state.settings.base_url):
        await websocket.close(code=CLOSE_POLICY)
        return
    await websocket.accept()
    async with state.live.hub.subscribe(MODERATION_CHANNEL) as subscriber:
        sender = asyncio.create_task(_forward(websocket, subscriber))
        receiver = asyncio.create_task(_drain(websocket))
        subscriber.on_lag = lambda: None
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(BaseException):
                await task
        if sender in done and isinstance(sender.exception(), Lagging):
            with contextlib.suppress(Exception, WebSocketDisconnect):
                await asyncio.wait_for(websocket.close(code=CLOSE_FELL_BEHIND), timeout=2)
