"""JSON API for accounts and sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forum.accounts import service
from forum.accounts.identity import (
    SESSION_COOKIE,
    check_csrf,
    client_ip,
    current_user,
    session_csrf_token,
)
from forum.accounts.web import LOGIN_FAILED, set_session_cookie
from forum.http import json_body, json_errors


async def create_account(request: Request) -> Response:
    """POST /api/accounts: register; 201, or 409/422 with field errors (429 when this address
    registered too many accounts lately)."""
    data = await json_body(request, csrf=False)
    try:
        user = await service.register(
            data.get("username"),
            data.get("password"),
            data.get("email"),
            limiter=request.app.state.limiter,
            ip=client_ip(request),
        )
    except service.UsernameTaken as error:
        return json_errors(error.errors, status_code=409)
    return JSONResponse({"username": user.username, "email": user.email}, status_code=201)


async def create_session(request: Request) -> Response:
    """POST /api/session: sign in; answers the CSRF token and sets the session cookie."""
    data = await json_body(request, csrf=False)
    user = await service.sign_in(
        data.get("username"), data.get("password"), request.app.state.limiter, client_ip(request)
    )
    if user is None:
        return json_errors({"password": LOGIN_FAILED}, status_code=401)
    new_session = await service.start_session(user, request.app.state.settings.session_days)
    token = session_csrf_token(request.app.state.settings.secret_key, new_session.token)
    response = JSONResponse({"username": user.username, "csrf_token": token})
    set_session_cookie(request, response, new_session)
    return response


async def delete_session(request: Request) -> Response:
    """DELETE /api/session: sign out (the session is deleted server-side); needs X-CSRF-Token."""
    # Like any unsafe request: another site must not be able to sign the reader out.
    if await current_user(request) is not None:
        check_csrf(request, None)
    await service.end_session(request.cookies.get(SESSION_COOKIE), request.app.state.events)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response
