"""What a refusal or a failure looks like: the app's exception handlers, one per kind of error,
answering JSON under /api, a short message for htmx (never a page in a fragment's place), and an
error page otherwise."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from forum.accounts.identity import CsrfError
from forum.accounts.tokens import BadToken
from forum.errors import Forbidden, NotFound, SignInRequired
from forum.http import (
    NO_SWAP,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_response,
    is_htmx,
    json_errors,
)
from forum.outages import OUTAGE_TYPES, RETRY_AFTER_SECONDS, is_outage
from forum.ratelimits import RateLimited
from forum.validation import ValidationError

log = logging.getLogger("forum")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _error(
    request: Request, status_code: int, message: str, field: str = "detail"
) -> Response:
    return await error_response(request, status_code, message, field)


async def _not_found(request: Request, exc: Exception) -> Response:
    return await _error(request, 404, getattr(exc, "message", "There is nothing at this address."))


async def _forbidden(request: Request, exc: Exception) -> Response:
    return await _error(request, 403, getattr(exc, "message", "You may not do that."))


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    return await _error(
        request,
        403,
        "This form has expired or came from another site. Reload the page and try again.",
        field="csrf_token",
    )


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return json_errors({"detail": SignInRequired.message}, status_code=401)
    # htmx requests come from a page; send the reader back to that page, not to the fragment.
    came_from = urlsplit(request.headers.get("hx-current-url", "")).path or request.url.path
    target = "/login?" + urlencode({"next": came_from})
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    if _is_api(request):
        return json_errors(exc.errors, status_code=422)
    return await _error(request, 400, " ".join(exc.errors.values()))


async def _rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    response = await _error(request, 429, exc.message, field=exc.field)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _bad_token(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadToken)
    return await _error(request, exc.status, exc.message, field="token")


async def _too_large(request: Request, exc: Exception) -> Response:
    return await _error(request, 413, "The request is too large.")


async def _unsupported(request: Request, exc: Exception) -> Response:
    return await _error(request, 415, "Send the body as application/json.", field="content_type")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "There is nothing at this address.", 405: "That method is not allowed here."}
    message = messages.get(exc.status_code, str(exc.detail))
    response = await _error(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    # Sent from outside the middleware stack: the security headers are put on here.
    if is_outage(exc):
        log.warning("503 on %s %s: %r", request.method, request.url.path, exc)
        return request.app.state.security.apply(_unavailable_response(request), request)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return request.app.state.security.apply(_server_error_response(request), request)


async def _outage(request: Request, exc: Exception) -> Response:
    """Answered here, inside the middleware (which then sees a 503, not an exception)."""
    if not is_outage(exc):
        raise exc  # an OperationalError of another kind: a bug, the 500 handler's
    log.warning("503 on %s %s: %r", request.method, request.url.path, exc)
    return _unavailable_response(request)


UNAVAILABLE = "The forum cannot reach its database for a moment. Try again in a few seconds."


def _unavailable_response(request: Request) -> Response:
    """A database or broker could not be reached: nothing was done, and asking again soon
    will work (forum.outages)."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if _is_api(request):
        return JSONResponse({"errors": {"detail": UNAVAILABLE}}, status_code=503, headers=headers)
    if is_htmx(request):
        return Response(
            f'<p class="alert-message">{UNAVAILABLE}</p>',
            status_code=503,
            media_type="text/html",
            headers={**headers, **NO_SWAP},
        )
    return Response(
        f"<!doctype html><title>Back in a moment</title><h1>Back in a moment</h1><p>{UNAVAILABLE}"
        "</p><p><a href=''>Try again</a></p>",
        status_code=503,
        media_type="text/html",
        headers=headers,
    )


def _server_error_response(request: Request) -> Response:
    if _is_api(request):
        return JSONResponse(
            {"errors": {"detail": "Something went wrong on our side."}}, status_code=500
        )
    if is_htmx(request):
        # Not swapped into the fragment's place: forum.js shows it in the page's alert region.
        return Response(
            '<p class="alert-message">Something went wrong on our side. Try again.</p>',
            status_code=500,
            media_type="text/html",
            headers=NO_SWAP,
        )
    return Response(
        "<!doctype html><title>Server error</title><h1>Something went wrong on our side.</h1>"
        "<p><a href='/'>Back to the forum</a></p>",
        status_code=500,
        media_type="text/html",
    )


#: For Starlette(exception_handlers=...).
EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    NotFound: _not_found,
    Forbidden: _forbidden,
    CsrfError: _csrf_failed,
    SignInRequired: _sign_in_required,
    ValidationError: _invalid,
    RateLimited: _rate_limited,
    BadToken: _bad_token,
    PayloadTooLarge: _too_large,
    UnsupportedMediaType: _unsupported,
    HTTPException: _http_error,
    **dict.fromkeys(OUTAGE_TYPES, _outage),
    500: _server_error,
}
