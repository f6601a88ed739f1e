"""HTML pages to register, sign in and out, and get back in by mail (verification, password
reset and sign-in links)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts import addresses, recovery, service, tokens
from forum.accounts.identity import SESSION_COOKIE, client_ip
from forum.errors import Forbidden
from forum.http import render, verified_form
from forum.ratelimits import RateLimited
from forum.validation import ValidationError
from models import TokenPurpose, User

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
            bus=request.app.state.events,
            secret_key=request.app.state.settings.secret_key,
            quarantine_days=request.app.state.settings.name_quarantine_days,
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


# Links by mail: verification, password reset, sign-in links ---------------------------------

MAIL_ON_ITS_WAY = (
    "If a verified address matches, a mail with a link is on its way. It may take a few "
    "minutes; the link works once."
)


def _token(request: Request) -> str:
    return request.query_params.get("token", "")


async def _notice(
    request: Request, title: str, message: str, *, status_code: int = 200, link: str = "/"
) -> Response:
    return await render(
        request,
        "notice.html",
        {"title": title, "message": message, "link": link},
        status_code=status_code,
    )


async def _bad_link(request: Request, error: tokens.BadToken) -> Response:
    return await render(
        request,
        "error.html",
        {"status_code": error.status, "message": error.message},
        status_code=error.status,
    )


async def _confirm_page(
    request: Request, token: str, title: str, text: str, button: str
) -> Response:
    """The page a mailed link opens: one button, so a mail scanner that fetches the link
    uses nothing up."""
    return await render(
        request,
        "token_confirm.html",
        {"title": title, "text": text, "button": button, "token": token},
    )


async def verify_email(request: Request) -> Response:
    """The verification link: GET asks for a click, POST verifies the address."""
    if request.method == "GET":
        try:
            await addresses.check_verification(_token(request))
        except tokens.BadToken as error:
            return await _bad_link(request, error)
        return await _confirm_page(
            request,
            _token(request),
            "Confirm your email address",
            "Confirm that this address is yours, so the forum may mail you notifications.",
            "Confirm my address",
        )
    form = await verified_form(request)
    try:
        user = await addresses.verify_email(form.get("token"), request.app.state.events)
    except tokens.BadToken as error:
        return await _bad_link(request, error)
    return await _notice(
        request,
        "Address confirmed",
        f"{user.email} is confirmed for the account {user.username}.",
    )


async def _ask_for_mail(
    request: Request, template: str, field: str, ask: Callable[..., Awaitable[recovery.MailLater]]
) -> Response:
    if request.method == "GET":
        return await render(request, template, {"form": {}, "errors": {}})
    form = await verified_form(request)
    typed = form.get(field)
    context: dict[str, object] = {"form": {field: typed or ""}}
    state = request.app.state
    try:
        mail_later = await ask(
            typed,
            bus=state.events,
            secret_key=state.settings.secret_key,
            limiter=state.limiter,
            ip=client_ip(request),
        )
    except ValidationError as error:
        context["errors"] = error.errors
        return await render(request, template, context, status_code=422)
    except RateLimited as limited:
        context["errors"] = {field: limited.message}
        response = await render(request, template, context, status_code=429)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    response = await _notice(request, "Check your mail", MAIL_ON_ITS_WAY, link="/login")
    # The account's lookup and mail wait until the page has gone (forum.accounts.recovery).
    response.background = BackgroundTask(mail_later)
    return response


async def forgot_password(request: Request) -> Response:
    """Ask for a password reset link by username or address."""
    return await _ask_for_mail(
        request, "forgot_password.html", "login", recovery.request_password_reset
    )


async def sign_in_link(request: Request) -> Response:
    """Ask for a sign-in link by address."""
    return await _ask_for_mail(request, "sign_in_link.html", "email", recovery.request_sign_in_link)


async def reset_password(request: Request) -> Response:
    """The reset link: a form for the new password; every session of the account ends."""
    if request.method == "GET":
        try:
            await tokens.check(_token(request), TokenPurpose.RESET_PASSWORD)
        except tokens.BadToken as error:
            return await _bad_link(request, error)
        return await render(
            request, "reset_password.html", {"token": _token(request), "errors": {}}
        )
    form = await verified_form(request)
    token = form.get("token")
    try:
        await recovery.reset_password(token, form.get("password"), request.app.state.events)
    except tokens.BadToken as error:
        return await _bad_link(request, error)
    except ValidationError as error:
        context = {"token": token or "", "errors": error.errors}
        return await render(request, "reset_password.html", context, status_code=422)
    return await _notice(
        request,
        "Password changed",
        "Your password is changed and every session of your account has ended. "
        "Sign in with the new password.",
        link="/login",
    )


async def sign_in_with_link(request: Request) -> Response:
    """The sign-in link: GET asks for a click, POST starts the session."""
    if request.method == "GET":
        try:
            await recovery.check_sign_in(_token(request))
        except tokens.BadToken as error:
            return await _bad_link(request, error)
        return await _confirm_page(
            request,
            _token(request),
            "Sign in",
            "Sign in to the forum with the link you asked for.",
            "Sign me in",
        )
    form = await verified_form(request)
    try:
        user = await recovery.sign_in_with_link(form.get("token"), request.app.state.events)
    except tokens.BadToken as error:
        return await _bad_link(request, error)
    return await _signed_in(request, user, "/")
