"""Small request/response helpers shared by the HTML and JSON handlers."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from forum.accounts.identity import CSRF_FIELD, check_csrf, csrf_token, current_user
from forum.boundary import is_safe_text, parse_json, refuse_unsafe_text
from forum.errors import SignInRequired
from forum.validation import ValidationError
from models import User

#: Request bodies larger than this are refused before parsing (a 10,000-character reply is ~40 KB).
MAX_BODY_BYTES = 64 * 1024


#: Sent with an error htmx must not swap into the fragment's place (a whole page there would
#: replace what the reader wrote); forum.js shows its message in the page's alert region.
NO_SWAP = {"HX-Reswap": "none"}


class PayloadTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES."""


class UnsupportedMediaType(Exception):
    """A JSON endpoint was sent something other than application/json."""


def is_htmx(request: Request) -> bool:
    """Whether htmx made this request (it wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


async def read_body(request: Request) -> bytes:
    """The request body, or PayloadTooLarge past MAX_BODY_BYTES.

    Read a chunk at a time: a body without Content-Length (chunked) is refused as soon as it
    passes the limit, never held whole first.
    """
    length = request.headers.get("content-length")
    if length and length.isascii() and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        chunks.append(chunk)
    # Starlette's own cache of the body: request.body() and request.form() read it from here.
    request._body = b"".join(chunks)
    return request._body


async def require_user(request: Request) -> User:
    """The signed-in user, or SignInRequired."""
    user = await current_user(request)
    if user is None:
        raise SignInRequired()
    return user


async def verified_form(request: Request) -> FormData:
    """The posted form, after checking its CSRF token (hidden field or X-CSRF-Token header);
    ValidationError when any field holds a NUL or a lone surrogate."""
    await current_user(request)
    await read_body(request)
    form = await request.form()
    token = form.get(CSRF_FIELD)
    check_csrf(request, token if isinstance(token, str) else None)
    refuse_unsafe_text(form.multi_items(), outer="form")
    return form


async def json_body(request: Request, *, csrf: bool = True) -> dict[str, Any]:
    """The request's JSON object; checks the X-CSRF-Token header unless csrf=False.

    No body at all is an empty object (whatever its Content-Type); UnsupportedMediaType for a
    body that is not application/json; ValidationError for anything forum.boundary.parse_json
    refuses, or a JSON other than an object.
    """
    await current_user(request)
    if csrf:
        check_csrf(request, None)
    raw = await read_body(request)
    if not raw:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ValidationError({"json": "Send a JSON object."})
    return data


def json_errors(errors: dict[str, str], status_code: int = 422) -> JSONResponse:
    """The API's error shape: {"errors": {field: message}}."""
    return JSONResponse({"errors": errors}, status_code=status_code)


async def error_response(
    request: Request, status_code: int, message: str, field: str = "detail"
) -> Response:
    """An error as {"errors": {field: message}} under /api, a message for the page's alert
    region to htmx, else as the error page."""
    if request.url.path.startswith("/api/"):
        return json_errors({field: message}, status_code=status_code)
    if is_htmx(request):
        return await render(
            request,
            "_alert.html",
            {"message": message},
            status_code=status_code,
            headers=NO_SWAP,
        )
    return await render(
        request,
        "error.html",
        {"status_code": status_code, "message": message},
        status_code=status_code,
    )


class SafeUrlMiddleware:
    """Refuse a NUL or a lone surrogate in the URL before any route sees it: in the path there
    is nothing (404), in the query string it is a field error (422 in the API, else a 400 page);
    a WebSocket is closed with 1008. Handlers and the database never get such text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine when the URL is fine: no frame of this stays suspended for each open
        # live socket (thousands at once).
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        path_ok = is_safe_text(scope["path"])
        errors: dict[str, str] = {}
        try:
            if scope["query_string"]:  # most requests have none: nothing to parse
                refuse_unsafe_text(QueryParams(scope["query_string"]).multi_items(), outer="query")
        except ValidationError as error:
            errors = error.errors
        if path_ok and not errors:
            return self.app(scope, receive, send)
        return self._refuse(scope, receive, send, path_ok, errors)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, path_ok: bool, errors: dict[str, str]
    ) -> None:
        if scope["type"] == "websocket":
            await WebSocketClose(code=1008)(scope, receive, send)
            return
        request = Request(scope, receive)
        if not path_ok:
            response = await error_response(request, 404, "There is nothing at this address.")
        elif request.url.path.startswith("/api/"):
            response = json_errors(errors, status_code=422)
        else:
            response = await error_response(request, 400, " ".join(errors.values()))
        await response(scope, receive, send)


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a template with what every page needs: the viewer, the CSRF token, the settings."""
    viewer = await current_user(request)
    # Full pages (partials start with "_") show the header: ask its features (the bell's
    # count) only for those; create_app says which (app.state.page_extras).
    if viewer is not None and not template.startswith("_"):
        context = {**await request.app.state.page_extras(viewer), **(context or {})}
    full_context = {
        "viewer": viewer,
        "csrf_token": csrf_token(request),
        "settings": request.app.state.settings,
        **(context or {}),
    }
    return request.app.state.templates.TemplateResponse(
        request, template, full_context, status_code=status_code, headers=headers
    )
