"""HTML pages to register, sign in and sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts import service
from forum.accounts.identity import SESSION_COOKIE
from forum.http import render, verified_form
from forum.validation import ValidationError

LOGIN_FAILED = "Wrong username or password."


def safe_next(value: object) -> str:
    """A local path to go back to after signing in (never another site)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value[:2000]
    return "/"


def set_session_cookie(
    request: Request, response: Response, new_session: service.NewSession
) -> None:
    """Put the session token in an HttpOnly, SameSite=Lax cookie."""
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        new_session.token,
        max_age=settings.session_days * 86_400,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )


async def register(request: Request) -> Response:
    """Create an account, then sign in and go back where the reader came from."""
    next_path = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return await render(request, "register.html", {"form": {}, "errors": {}, "next": next_path})
    form = await verified_form(request)
    next_path = safe_next(form.get("next"))
    try:
        user = await service.register(form.get("username"), form.get("password"), form.get("email"))
    except ValidationError as error:
        values = {"username": form.get("username") or "", "email": form.get("email") or ""}
        context = {"form": values, "errors": error.errors, "next": next_path}
        return await render(request, "register.html", context, status_code=422)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(
        request,
        response,
        await service.start_session(user, request.app.state.settings.session_days),
    )
    return response


async def login(request: Request) -> Response:
    """Sign in with username and password."""
    next_path = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return await render(request, "login.html", {"form": {}, "errors": {}, "next": next_path})
    form = await verified_form(request)
    next_path = safe_next(form.get("next"))
    user = await service.authenticate(form.get("username"), form.get("password"))
    if user is None:
        context = {
            "form": {"username": form.get("username") or ""},
            "errors": {"password": LOGIN_FAILED},
            "next": next_path,
        }
        return await render(request, "login.html", context, status_code=422)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(
        request,
        response,
        await service.start_session(user, request.app.state.settings.session_days),
    )
    return response


async def logout(request: Request) -> Response:
    """End the session server-side and forget the cookie."""
    await verified_form(request)
    await service.end_session(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response
