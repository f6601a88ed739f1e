"""JSON API for accounts and sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forum.accounts import service
from forum.accounts.identity import (
    SESSION_COOKIE,
    check_csrf,
    client_ip,
    current_user,
    session_csrf_token,
)
from forum.accounts.web import LOGIN_FAILED, set_session_cookie
from forum.contracts import api, respond
from forum.http import json_errors
from forum.schemas import Account, Credentials, NewAccount, SessionStarted


@api(
    "Register an account",
    body=NewAccount,
    response=Account,
    status=201,
    csrf=False,
    errors=(409, 429),
)
async def create_account(request: Request, body: NewAccount) -> Response:
    """POST /api/accounts: register; 201, or 409/422 with field errors (429 when this address
    registered too many accounts lately)."""
    try:
        user = await service.register(
            body.username,
            body.password,
            body.email,
            limiter=request.app.state.limiter,
            ip=client_ip(request),
        )
    except service.UsernameTaken as error:
        return json_errors(error.errors, status_code=409)
    return respond(Account(user.username, user.email), 201)


@api(
    "Sign in (sets the session cookie)",
    body=Credentials,
    response=SessionStarted,
    csrf=False,
    errors=(401, 403, 429),
)
async def create_session(request: Request, body: Credentials) -> Response:
    """POST /api/session: sign in; answers the CSRF token and sets the session cookie."""
    user = await service.sign_in(
        body.username, body.password, request.app.state.limiter, client_ip(request)
    )
    if user is None:
        return json_errors({"password": LOGIN_FAILED}, status_code=401)
    new_session = await service.start_session(user, request.app.state.settings.session_days)
    token = session_csrf_token(request.app.state.settings.secret_key, new_session.token)
    response = respond(SessionStarted(user.username, token))
    set_session_cookie(request, response, new_session)
    return response


@api("Sign out (deletes the session server-side)", status=204)
async def delete_session(request: Request) -> Response:
    """DELETE /api/session: sign out (the session is deleted server-side); needs X-CSRF-Token."""
    # Like any unsafe request: another site must not be able to sign the reader out.
    if await current_user(request) is not None:
        check_csrf(request, None)
    await service.end_session(request.cookies.get(SESSION_COOKIE), request.app.state.events)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response
