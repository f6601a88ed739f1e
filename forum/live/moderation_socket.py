"""The moderators' live socket, /mod/live: the flag queue updates without a reload."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from forum.accounts.identity import current_session, current_user
from forum.live.accounts import ACCOUNT_CLOSE_CODES, MODERATION_CHANNEL, user_channel
from forum.live.connection import CLOSE_FELL_BEHIND, CLOSE_POLICY, settle
from forum.live.endpoint import origin_allowed
from forum.live.hub import Delivery, Hub, Lagging, Subscriber
from forum.visibility import MODERATOR, is_moderator


class _AccountClosed(Exception):
    """The moderator's account changed (demoted, signed out, suspended): stop at once."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


async def _forward(
    websocket: WebSocket, queue: Subscriber, account: Subscriber, session_id: int | None
) -> None:
    closing: list[int] = []

    def watch(delivery: Delivery) -> None:
        # Any account notice ends the queue's updates, before another frame can go out.
        mine = delivery.session_id is None or delivery.session_id == session_id
        if delivery.close_code in ACCOUNT_CLOSE_CODES and mine:
            closing.append(delivery.close_code)
            queue.lagging = True  # takes nothing more

    account.watch = watch
    next_queue = asyncio.ensure_future(queue.next())
    next_account = asyncio.ensure_future(account.next())
    try:
        while True:
            await asyncio.wait({next_queue, next_account}, return_when=asyncio.FIRST_COMPLETED)
            if closing:
                raise _AccountClosed(closing[0])
            if next_queue.done():
                frame = next_queue.result().frame_for(MODERATOR)
                if frame is not None:
                    await websocket.send_text(frame)
                next_queue = asyncio.ensure_future(queue.next())
            if next_account.done():
                next_account.result()  # bell and follow frames are not for this page
                next_account = asyncio.ensure_future(account.next())
    finally:
        next_queue.cancel()
        next_account.cancel()


async def _drain(websocket: WebSocket) -> None:
    # Moderators' pages send nothing that matters; read to notice the close.
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def moderation_socket(websocket: WebSocket) -> None:
    """Flag-queue updates for signed-in, active moderators only (the route's rule; checked
    again here because the queue shows hidden replies)."""
    state = websocket.app.state
    user = await current_user(websocket)
    if not is_moderator(user) or not origin_allowed(websocket, state.settings.base_url):
        await websocket.close(code=CLOSE_POLICY)
        return
    assert user is not None
    session = await current_session(websocket)
    await websocket.accept()
    hub = state.live.hub
    with state.accounts.watching(user, session):
        await _serve(websocket, hub, user.id, session.id if session else None)


async def _serve(websocket: WebSocket, hub: Hub, user_id: int, session_id: int | None) -> None:
    async with (
        hub.subscribe(MODERATION_CHANNEL) as queue,
        hub.subscribe(user_channel(user_id)) as account,
    ):
        sender = asyncio.create_task(_forward(websocket, queue, account, session_id))
        receiver = asyncio.create_task(_drain(websocket))
        queue.on_lag = lambda: None
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await settle((sender, receiver))
        code = None
        if sender in done and not sender.cancelled():
            error = sender.exception()
            if isinstance(error, _AccountClosed):
                code = error.code
            elif isinstance(error, Lagging):
                code = CLOSE_FELL_BEHIND
        if code is not None:
            with contextlib.suppress(Exception, WebSocketDisconnect):
                await asyncio.wait_for(websocket.close(code=code), timeout=2)
