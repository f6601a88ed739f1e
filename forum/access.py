"""Who may call a route: declared beside it in the route table, enforced here once.

Every route of the app is built by `page`, `socket` or `files` below, each of which takes an
`Access` rule. The rule is checked before the handler runs (a signed-out caller is sent to sign
in, anyone else refused with 403), so a handler never starts work for a caller it would refuse,
and a route cannot exist without a rule: `tests/test_access.py` walks the app's route table.

Services still check their own business rules (an admin only may suspend a moderator, an
author may edit only within the window); this module answers the coarser question first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from forum.accounts.identity import current_user
from forum.accounts.standing import is_moderator, is_suspended, suspension_message
from forum.errors import Forbidden, NotFound, SignInRequired
from forum.visibility import thread_rows
from models import Reply, Role, User

#: Close code of a live socket refused at the handshake (docs/live.md).
CLOSE_REFUSED = 1008


class Access(StrEnum):
    """Who may call a route, from the widest to the narrowest."""

    #: Anyone, signed in or not (reading, signing in, one-click unsubscribe).
    ANYONE = "anyone"
    #: A signed-in account that is not suspended. (A suspension ends the account's sessions
    #: and refuses sign-in, so no rule admits suspended accounts.)
    ACTIVE = "active member"
    #: An active member who wrote the reply named by the path's reply_id.
    AUTHOR = "author of the reply"
    #: An active moderator or admin.
    MODERATOR = "moderator"
    #: An active admin.
    ADMIN = "admin"


def allows(rule: Access, user: User | None) -> bool:
    """Whether rule lets this caller in, leaving out authorship (which needs the reply)."""
    if rule is Access.ANYONE:
        return True
    if user is None:
        return False
    if is_suspended(user):
        return False
    if rule is Access.MODERATOR:
        return is_moderator(user)
    if rule is Access.ADMIN:
        return user.role == Role.ADMIN
    return True  # ACTIVE, AUTHOR


async def authorize(rule: Access, conn: HTTPConnection) -> User | None:
    """The caller, once rule lets them in; SignInRequired, Forbidden or NotFound otherwise."""
    user = await current_user(conn)
    if allows(rule, user):
        if rule is Access.AUTHOR:
            assert user is not None
            await _require_author(conn, user)
        return user
    if user is None:
        raise SignInRequired()
    if is_suspended(user):
        raise Forbidden(suspension_message(user))
    if rule is Access.ADMIN:
        raise Forbidden("Only an admin may do that.")
    raise Forbidden("Only moderators may do that.")


async def _require_author(conn: HTTPConnection, user: User) -> None:
    reply_id = conn.path_params["reply_id"]
    reply = await Reply.filter(thread_rows(user), id=reply_id).only("id", "author_id").first()
    if reply is None:
        raise NotFound("That reply does not exist (or is no longer visible).")
    if reply.author_id != user.id:
        raise Forbidden("You can only change your own replies.")


Handler = Callable[[Request], Awaitable[Response]]
SocketHandler = Callable[[WebSocket], Awaitable[None]]


class GuardedRoute(Route):
    """An HTTP route with its access rule, checked before its handler runs."""

    def __init__(
        self,
        path: str,
        endpoint: Handler,
        *,
        access: Access,
        methods: list[str] | None = None,
        name: str | None = None,
    ) -> None:
        async def guarded(request: Request) -> Response:
            await authorize(access, request)
            return await endpoint(request)

        guarded.__name__ = endpoint.__name__
        guarded.__doc__ = endpoint.__doc__
        super().__init__(path, guarded, methods=methods, name=name or endpoint.__name__)
        self.access = access
        self.handler = endpoint


class GuardedWebSocketRoute(WebSocketRoute):
    """A WebSocket route with its access rule, checked before the handshake is accepted."""

    def __init__(
        self, path: str, endpoint: SocketHandler, *, access: Access, name: str | None = None
    ) -> None:
        async def guarded(websocket: WebSocket) -> None:
            if not allows(access, await current_user(websocket)):
                await websocket.close(code=CLOSE_REFUSED)
                return
            await endpoint(websocket)

        super().__init__(path, guarded, name=name or endpoint.__name__)
        self.access = access
        self.handler = endpoint


class PublicMount(Mount):
    """Static files: public by declaration, like every route."""

    def __init__(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        super().__init__(path, app=app, name=name)
        self.access = Access.ANYONE


def page(
    path: str,
    endpoint: Handler,
    access: Access,
    methods: list[str] | None = None,
    name: str | None = None,
) -> GuardedRoute:
    """A route of the table: path, handler, who may call it (and its methods, default GET)."""
    return GuardedRoute(path, endpoint, access=access, methods=methods, name=name)


def socket(path: str, endpoint: SocketHandler, access: Access, name: str | None = None) -> Any:
    """A WebSocket route of the table with who may open it."""
    return GuardedWebSocketRoute(path, endpoint, access=access, name=name)
