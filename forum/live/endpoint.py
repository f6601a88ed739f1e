"""The WebSocket of one thread, /a/{slug}/live: the handshake, then a ThreadConnection
(forum.live.connection). The protocol is documented in docs/live.md."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from forum.accounts.identity import client_ip, current_session, current_user, visitor_key
from forum.accounts.muting import muted_ids
from forum.accounts.standing import is_suspended
from forum.live.accounts import (
    CLOSE_SUSPENDED,
    user_channel,
)
from forum.live.connection import (
    CLOSE_POLICY,
    CLOSE_TOO_MANY_SOCKETS,
    ThreadConnection,
)
from forum.live.hub import Subscriber
from forum.live.threads import LiveThreads, thread_channel
from models import Session, User


def origin_allowed(websocket: WebSocket, base_url: str) -> bool:
    """Refuse cross-site pages (cross-site WebSocket hijacking); non-browsers send no Origin."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    site = urlsplit(base_url)
    allowed = {f"{site.scheme}://{site.netloc}"}
    host = websocket.headers.get("host")
    if host:
        allowed |= {f"http://{host}", f"https://{host}"}
    return origin.rstrip("/") in allowed


async def thread_socket(websocket: WebSocket) -> None:
    """Live updates of one article's thread (see docs/live.md)."""
    state = websocket.app.state
    if not origin_allowed(websocket, state.settings.base_url):
        await websocket.close(code=CLOSE_POLICY)
        return
    live: LiveThreads = state.live
    article_id = await live.thread_id(websocket.path_params["slug"])
    if article_id is None:
        await websocket.close(code=CLOSE_POLICY)
        return
    viewer = await current_user(websocket)
    if viewer is not None and is_suspended(viewer):
        await websocket.close(code=CLOSE_SUSPENDED)
        return
    session = await current_session(websocket) if viewer is not None else None
    channel = thread_channel(article_id)
    readers = state.presence.readers
    with readers.holding(channel, visitor_key(websocket, viewer), client_ip(websocket)) as held:
        if not held:
            # Refused after the handshake rather than at it: a browser sees a refused handshake
            # as 1006 and htmx would retry it forever; this code tells the page to stop.
            await websocket.accept()
            await websocket.close(code=CLOSE_TOO_MANY_SOCKETS, reason="too many open pages")
            return
        await _follow(websocket, live, article_id, viewer, session)
    state.presence.changed(channel)


async def _follow(
    websocket: WebSocket,
    live: LiveThreads,
    article_id: int,
    viewer: User | None,
    session: Session | None,
) -> None:
    """Subscribe to the thread (and the viewer's own channel), then serve the socket."""
    channel = thread_channel(article_id)
    # Nested blocks rather than an AsyncExitStack, which costs every open socket its deque.
    # Joining from before the read: an event committed before the socket has subscribed is
    # still published (Hub.listened), so that it shows as a gap.
    with live.hub.joining(channel):
        # Read before subscribing: an event committed in between is then a gap, filled from
        # the stream, rather than an event the socket would count as already seen.
        seen_seq = await live.last_seq(article_id)
        muted = await muted_ids(viewer)
        connection = ThreadConnection(websocket, live, article_id, viewer, seen_seq, session, muted)
        async with live.hub.subscribe(channel) as subscriber:
            if viewer is None:
                await _serve(connection, channel, subscriber, None)
            else:
                # The user's own channel: the bell, follow buttons, and account changes.
                with websocket.app.state.accounts.watching(viewer, session):
                    async with live.hub.subscribe(user_channel(viewer.id)) as personal:
                        await _serve(connection, channel, subscriber, personal)


async def _serve(
    connection: ThreadConnection,
    channel: str,
    subscriber: Subscriber,
    personal: Subscriber | None,
) -> None:
    """Accept the handshake, announce the reader, and serve it until the socket ends."""
    websocket = connection.websocket
    # Accepted once subscribed: every event committed after the handshake reaches the client.
    await websocket.accept()
    websocket.app.state.presence.changed(channel)
    with contextlib.suppress(WebSocketDisconnect):
        await connection.run(subscriber, personal)
