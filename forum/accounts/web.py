"""HTML pages to register, sign in and sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts import service
from forum.accounts.identity import SESSION_COOKIE, client_ip
from forum.errors import Forbidden
from forum.http import render, verified_form
from forum.ratelimits import RateLimited
from forum.validation import ValidationError
from models import User

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


async def _signed_in(request: Request, user: User, next_path: str) -> Response:
    """Start a session for user and go back where they came from."""
    response = RedirectResponse(next_path, status_code=303)
    new_session = await service.start_session(user, request.app.state.settings.session_days)
    set_session_cookie(request, response, new_session)
    return response


async def register(request: Request) -> Response:
    """Create an account, then sign in and go back where the reader came from."""
    next_path = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return await render(request, "register.html", {"form": {}, "errors": {}, "next": next_path})
    form = await verified_form(request)
    next_path = safe_next(form.get("next"))
    values = {"username": form.get("username") or "", "email": form.get("email") or ""}
    context = {"form": values, "next": next_path}
    try:
        user = await service.register(
            form.get("username"),
            form.get("password"),
            form.get("email"),
            limiter=request.app.state.limiter,
            ip=client_ip(request),
        )
    except ValidationError as error:
        context["errors"] = error.errors
        return await render(request, "register.html", context, status_code=422)
    except RateLimited as limited:
        context["errors"] = {limited.field: limited.message}
        response = await render(request, "register.html", context, status_code=429)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    return await _signed_in(request, user, next_path)


async def login(request: Request) -> Response:
    """Sign in with username and password."""
    next_path = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return await render(request, "login.html", {"form": {}, "errors": {}, "next": next_path})
    form = await verified_form(request)
    next_path = safe_next(form.get("next"))
    context: dict[str, object] = {
        "form": {"username": form.get("username") or ""},
        "next": next_path,
    }
    try:
        user = await service.sign_in(
            form.get("username"),
            form.get("password"),
            request.app.state.limiter,
            client_ip(request),
        )
    except RateLimited as limited:
        context["errors"] = {limited.field: limited.message}
        response = await render(request, "login.html", context, status_code=429)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    except Forbidden as refused:
        context["errors"] = {"password": refused.message}
        return await render(request, "login.html", context, status_code=403)
    if user is None:
        context["errors"] = {"password": LOGIN_FAILED}
        return await render(request, "login.html", context, status_code=422)
    return await _signed_in(request, user, next_path)


async def logout(request: Request) -> Response:
    """End the session server-side and forget the cookie."""
    await verified_form(request)
    await service.end_session(request.cookies.get(SESSION_COOKIE), request.app.state.events)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response
