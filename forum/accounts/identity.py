"""Who is asking: the session cookie, the signed-in user, and the CSRF token bound to them."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forum.accounts.service import session_for_token, user_for_token
from models import Session, User

SESSION_COOKIE = "forum_session"
#: Identifies a signed-out browser so its forms (login, register) get a CSRF token of their own.
VISITOR_COOKIE = "forum_visitor"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class CsrfError(Exception):
    """A state-changing request without the token bound to its session."""


async def current_user(conn: HTTPConnection) -> User | None:
    """The signed-in user, looked up once per request."""
    state = conn.state
    if not hasattr(state, "user"):
        state.user = await user_for_token(conn.cookies.get(SESSION_COOKIE))
    return state.user


async def current_session(conn: HTTPConnection) -> Session | None:
    """The session the request's cookie names, if it is still valid (for live sockets, which
    must end with it)."""
    return await session_for_token(conn.cookies.get(SESSION_COOKIE))


def visitor_key(conn: HTTPConnection, user: User | None) -> str:
    """Who is behind a connection, to count readers and their sockets: the signed-in user,
    else the browser's visitor cookie, else the client's address."""
    if user is not None:
        return f"user:{user.id}"
    visitor = conn.cookies.get(VISITOR_COOKIE)
    # The middleware makes 22 characters; a longer one is not ours and must not cost memory.
    if visitor and len(visitor) <= 64:
        return "visitor:" + visitor
    return "address:" + (conn.client.host if conn.client else "unknown")


def _csrf_subject(conn: HTTPConnection) -> str:
    session = conn.cookies.get(SESSION_COOKIE)
    if session and getattr(conn.state, "user", None) is not None:
        return "session:" + session
    return "visitor:" + (conn.cookies.get(VISITOR_COOKIE) or conn.scope.get("forum_visitor", ""))


def _sign(secret: str, subject: str) -> str:
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()


def csrf_token(conn: HTTPConnection) -> str:
    """The CSRF token for this request's session (or its signed-out visitor)."""
    return _sign(conn.app.state.settings.secret_key, _csrf_subject(conn))


def session_csrf_token(secret: str, session_token: str) -> str:
    """The CSRF token bound to a session, for the response that starts it."""
    return _sign(secret, "session:" + session_token)


def check_csrf(conn: HTTPConnection, submitted: str | None) -> None:
    """Raise CsrfError unless submitted is this session's token; call current_user first."""
    header = conn.headers.get(CSRF_HEADER)
    candidate = header or submitted or ""
    subject = _csrf_subject(conn)
    # compare_digest raises on non-ASCII text; a token is ASCII, so such a candidate is wrong.
    if (
        subject.endswith(":")
        or not candidate.isascii()
        or not hmac.compare_digest(candidate, csrf_token(conn))
    ):
        raise CsrfError()


class VisitorCookieMiddleware:
    """Give each new browser a random visitor id, so signed-out forms can carry CSRF tokens."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        # The scope's path, not conn.url's: building the whole URL costs more than the rest.
        if conn.cookies.get(VISITOR_COOKIE) or scope["path"].startswith(("/static/", "/api/")):
            await self.app(scope, receive, send)
            return
        visitor = secrets.token_urlsafe(16)
        scope["forum_visitor"] = visitor
        cookie = f"{VISITOR_COOKIE}={visitor}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000"
        if self.secure:
            cookie += "; Secure"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def client_ip(conn: HTTPConnection) -> str:
    """The address a request or WebSocket came from (uvicorn applies trusted proxy headers)."""
    return conn.client.host if conn.client else "unknown"
