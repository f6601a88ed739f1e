"""The account settings page: address, password, mail choices, signed-in sessions, and
deleting the account (each form posts back here and returns to the page with what it did)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts import addresses, deletion, muting, profile
from forum.accounts.identity import SESSION_COOKIE, client_ip, current_session
from forum.http import render, require_user, verified_form
from forum.ratelimits import RateLimited
from forum.validation import ValidationError

# The account settings page -----------------------------------------------------------------

#: What the page says after each of its forms did its work (?done=...).
DONE = {
    "email": "Saved. If you gave a new address, open the link we mailed it to confirm it.",
    "verify": "A new link to confirm your address is on its way.",
    "password": "Your password is changed; your other sessions have ended.",
    "notifications": "Your notification choices are saved.",
    "session": "That session is signed out.",
    "unmuted": "Unmuted: their replies show again.",
}


async def settings_page(
    request: Request, *, errors: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    """The account's settings: address, password, mail choices and signed-in sessions."""
    user = await require_user(request)
    session = await current_session(request)
    done = DONE.get(request.query_params.get("done", "")) if errors is None else None
    return await render(
        request,
        "settings.html",
        {
            "account": user,
            "sessions": await profile.sessions_of(user),
            "muted": await muting.muted_members(user),
            "current_session": session.id if session else None,
            "errors": errors or {},
            "done": done,
        },
        status_code=status_code,
    )


def _back(done: str) -> Response:
    return RedirectResponse(f"/settings?done={done}", status_code=303)


async def settings_email(request: Request) -> Response:
    """Set, change or remove the address (a new one gets a link to confirm it)."""
    user = await require_user(request)
    form = await verified_form(request)
    state = request.app.state
    try:
        await addresses.change_email(
            user, form.get("email"), state.events, state.settings.secret_key
        )
    except ValidationError as error:
        return await settings_page(request, errors=error.errors, status_code=422)
    return _back("email")


async def settings_resend(request: Request) -> Response:
    """Mail a new link to confirm the address."""
    user = await require_user(request)
    await verified_form(request)
    state = request.app.state
    try:
        await addresses.resend_verification(
            user, state.events, state.settings.secret_key, state.limiter, client_ip(request)
        )
    except ValidationError as error:
        return await settings_page(request, errors=error.errors, status_code=422)
    except RateLimited as limited:
        response = await settings_page(request, errors={"email": limited.message}, status_code=429)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    return _back("verify")


async def settings_password(request: Request) -> Response:
    """Change the password, knowing the current one; the other sessions end."""
    user = await require_user(request)
    form = await verified_form(request)
    session = await current_session(request)
    try:
        await profile.change_password(
            user,
            form.get("current_password"),
            form.get("new_password"),
            session.id if session else None,
            request.app.state.events,
        )
    except ValidationError as error:
        return await settings_page(request, errors=error.errors, status_code=422)
    return _back("password")


async def settings_notifications(request: Request) -> Response:
    """Save the mail choices (unchecked boxes are not sent: off)."""
    user = await require_user(request)
    form = await verified_form(request)
    await profile.set_mail_choices(
        user,
        notify_replies=form.get("notify_replies") == "on",
        email_notifications=form.get("email_notifications") == "on",
    )
    return _back("notifications")


async def settings_end_session(request: Request) -> Response:
    """Sign one session out; signing out this browser goes to the front page."""
    user = await require_user(request)
    await verified_form(request)
    session_id = request.path_params["session_id"]
    current = await current_session(request)
    await profile.end_session_of(user, session_id, request.app.state.events)
    if current is not None and current.id == session_id:
        return _signed_out()
    return _back("session")


async def settings_end_every_session(request: Request) -> Response:
    """Sign out everywhere, this browser included."""
    user = await require_user(request)
    await verified_form(request)
    await profile.end_every_session(user, request.app.state.events)
    return _signed_out()


async def settings_delete(request: Request) -> Response:
    """Delete the account, knowing its password; its replies kept or deleted as chosen."""
    user = await require_user(request)
    form = await verified_form(request)
    choice = form.get("replies")
    if choice not in (deletion.KeptReplies.KEEP, deletion.KeptReplies.DELETE):
        errors = {"replies": "Choose whether your replies stay or go."}
        return await settings_page(request, errors=errors, status_code=422)
    try:
        await deletion.delete_account(
            user,
            form.get("delete_password"),
            deletion.KeptReplies(choice),
            request.app.state.events,
        )
    except ValidationError as error:
        errors = {"delete_password": error.errors["password"]}
        return await settings_page(request, errors=errors, status_code=422)
    return _signed_out()


def _signed_out() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response
