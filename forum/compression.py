"""gzip for HTTP responses (HTML, JSON, CSS, JS) from a minimum size; never for WebSockets.

Signed-in readers' HTML stays uncompressed: every page of theirs carries the session's CSRF
token, and a page that also reflects text an attacker chose (a path, a query) would, compressed,
leak the token a guess at a time through its size (the BREACH attack). Their JSON, CSS and JS
are compressed (none of it holds a secret beside attacker-chosen text), and so is everything
sent to readers who are signed out, most of the traffic.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

#: Smaller answers are sent as they are: gzip would save little for its work.
MINIMUM_BYTES = 1024
#: zlib's default: nearly the size of level 9 for a fraction of the CPU, on every page.
LEVEL = 6


class CompressionMiddleware:
    """Starlette's GZipMiddleware, but never on HTML sent to a request with a session cookie."""

    def __init__(self, app: ASGIApp, *, session_cookie: str) -> None:
        self.app = app
        self._session_marker = f"{session_cookie}="
        self._everything = GZipMiddleware(app, MINIMUM_BYTES, LEVEL)
        self._no_html = GZipMiddleware(
            app,
            MINIMUM_BYTES,
            LEVEL,
            exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "text/html"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # WebSockets pass untouched: the live writer needs the server's own `send`.
            await self.app(scope, receive, send)
            return
        signed_in = self._session_marker in Headers(scope=scope).get("cookie", "")
        await (self._no_html if signed_in else self._everything)(scope, receive, send)
