"""Small request/response helpers shared by the HTML and JSON handlers."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forum.accounts.identity import CSRF_FIELD, check_csrf, csrf_token, current_user
from forum.errors import SignInRequired
from forum.notifications.service import unread_count
from forum.validation import ValidationError
from models import User

#: Request bodies larger than this are refused before parsing (a 10,000-character reply is ~40 KB).
MAX_BODY_BYTES = 64 * 1024


class PayloadTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES."""


class UnsupportedMediaType(Exception):
    """A JSON endpoint was sent something other than application/json."""


def is_htmx(request: Request) -> bool:
    """Whether htmx made this request (it wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


async def _check_size(request: Request) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    if len(await request.body()) > MAX_BODY_BYTES:
        raise PayloadTooLarge()


async def require_user(request: Request) -> User:
    """The signed-in user, or SignInRequired."""
    user = await current_user(request)
    if user is None:
        raise SignInRequired()
    return user


async def verified_form(request: Request) -> FormData:
    """The posted form, after checking its CSRF token (hidden field or X-CSRF-Token header)."""
    await current_user(request)
    await _check_size(request)
    form = await request.form()
    token = form.get(CSRF_FIELD)
    check_csrf(request, token if isinstance(token, str) else None)
    return form


async def json_body(request: Request, *, csrf: bool = True) -> dict[str, Any]:
    """The request's JSON object; checks the X-CSRF-Token header unless csrf=False."""
    await current_user(request)
    if csrf:
        check_csrf(request, None)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()
    await _check_size(request)
    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError({"json": "The body is not valid JSON."}) from None
    if not isinstance(data, dict):
        raise ValidationError({"json": "Send a JSON object."})
    return data


def json_errors(errors: dict[str, str], status_code: int = 422) -> JSONResponse:
    """The API's error shape: {"errors": {field: message}}."""
    return JSONResponse({"errors": errors}, status_code=status_code)


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
    full_context = {
        "viewer": viewer,
        "unread_notifications": await unread_count(viewer) if viewer else 0,
        "csrf_token": csrf_token(request),
        "settings": request.app.state.settings,
        **(context or {}),
    }
    return request.app.state.templates.TemplateResponse(
        request, template, full_context, status_code=status_code, headers=headers
    )
