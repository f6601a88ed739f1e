"""Security headers on every HTTP response, with a fresh Content-Security-Policy nonce each time.

The one place the forum's browser policy is written down. Scripts and styles may come from the
forum itself, or be inline only when they carry this response's nonce (templates read it as
`csp_nonce`); images from the forum and `data:` URLs (replies' images never point elsewhere,
see forum/images); connections to the forum and its own WebSocket origin. htmx 4 needs nothing
more: the templates use no `hx-on` or `js:` attributes (the only features it runs through
`new Function`, which this policy forbids), and its indicator rules are a constructed
stylesheet, which `style-src` does not govern. `inlineScriptNonce` is left unset on purpose,
so a `<script>` in a swapped fragment never runs.

`Referrer-Policy: same-origin`: links out of a thread (replies link anywhere) do not tell other
sites which discussion a reader was in; requests within the forum keep their full Referer.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where the middleware leaves the nonce: `request.state.csp_nonce`.
NONCE_STATE_KEY = "csp_nonce"


class SecurityPolicy:
    """The headers for one site (its public origin decides the WebSocket source and HSTS)."""

    def __init__(self, base_url: str) -> None:
        origin = urlsplit(base_url)
        https = origin.scheme == "https"
        socket_origin = f"{'wss' if https else 'ws'}://{origin.netloc}"
        # {nonce} is filled in per response; the rest is fixed for the site.
        self._csp = "; ".join(
            [
                "default-src 'self'",
                "script-src 'self' 'nonce-{nonce}'",
                "style-src 'self' 'nonce-{nonce}'",
                "img-src 'self' data:",
                f"connect-src 'self' {socket_origin}",
                "frame-ancestors 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                "object-src 'none'",
            ]
        )
        self._fixed = {
            "referrer-policy": "same-origin",
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
        }
        if https:
            self._fixed["strict-transport-security"] = "max-age=31536000"

    @staticmethod
    def new_nonce() -> str:
        """A random, unguessable nonce for one response."""
        return secrets.token_urlsafe(18)

    def headers(self, nonce: str) -> dict[str, str]:
        """Every security header of a response whose inline elements carry this nonce."""
        return {"content-security-policy": self._csp.format(nonce=nonce), **self._fixed}

    def apply(self, response: Response, request: Request) -> Response:
        """Put the headers on a response built outside the middleware (the 500 page, which
        Starlette sends from its outermost layer), with the request's nonce."""
        nonce = getattr(request.state, NONCE_STATE_KEY, None) or self.new_nonce()
        response.headers.update(self.headers(nonce))
        return response


class SecurityHeadersMiddleware:
    """Give each HTTP request a nonce (in `request.state`) and its response the headers."""

    def __init__(self, app: ASGIApp, *, policy: SecurityPolicy) -> None:
        self.app = app
        self.policy = policy

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine for WebSockets, which pass untouched (the live writer needs the
        # server's own `send`): no frame of this stays suspended for each open socket.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        nonce = self.policy.new_nonce()
        scope.setdefault("state", {})[NONCE_STATE_KEY] = nonce
        headers = self.policy.headers(nonce)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csp_nonce(request: Request) -> dict[str, str]:
    """Template context: `csp_nonce`, for every inline `<script>` and `<style>`."""
    return {"csp_nonce": getattr(request.state, NONCE_STATE_KEY, "")}
