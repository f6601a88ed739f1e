"""JSON API for accounts and sessions."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from forum.accounts import addresses, deletion, muting, profile, recovery, service
from forum.accounts import export as account_export
from forum.accounts.identity import (
    SESSION_COOKIE,
    check_csrf,
    client_ip,
    current_session,
    current_user,
    session_csrf_token,
)
from forum.accounts.web import LOGIN_FAILED, set_session_cookie
from forum.contracts import api, respond
from forum.http import json_errors, require_user
from forum.schemas import (
    Accepted,
    Account,
    AccountDeletion,
    AccountExport,
    Credentials,
    Me,
    MeChange,
    MutedList,
    MutedMember,
    MuteState,
    NewAccount,
    PasswordChange,
    PasswordReset,
    ResetRequest,
    SessionOut,
    Sessions,
    SessionsEnded,
    SessionStarted,
    SignInLinkRequest,
    TokenUse,
    Verified,
)
from models import User


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
            bus=request.app.state.events,
            secret_key=request.app.state.settings.secret_key,
            quarantine_days=request.app.state.settings.name_quarantine_days,
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


#: The answer to every request for account mail, whoever it names.
MAIL_ON_ITS_WAY = (
    "If a verified address matches, a mail with a link is on its way. It may take a few minutes."
)


def me_out(user: User) -> Me:
    """The account as its owner sees it."""
    return Me(
        username=user.username,
        email=user.email,
        email_verified=user.email is not None and user.email_verified_at is not None,
        role=user.role,
        created_at=user.created_at,
        notify_replies=user.notify_replies,
        email_notifications=user.email_notifications,
    )


@api("The signed-in account", response=Me)
async def me(request: Request) -> Response:
    """GET /api/me: the caller's account (address, whether verified, mail choices)."""
    return respond(me_out(await require_user(request)))


@api("Change one's address or mail choices", body=MeChange, response=Me)
async def update_me(request: Request, body: MeChange) -> Response:
    """PATCH /api/me: a new address is unverified until its mailed link is opened."""
    user = await require_user(request)
    if body.email is not None:
        user = await addresses.change_email(
            user, body.email, request.app.state.events, request.app.state.settings.secret_key
        )
    user = await profile.set_mail_choices(
        user, notify_replies=body.notify_replies, email_notifications=body.email_notifications
    )
    return respond(me_out(user))


@api("Mail a new verification link", response=Accepted, status=202, errors=(422, 429))
async def resend_verification(request: Request) -> Response:
    """POST /api/me/email/verify: mail the address a new link (the older ones stop working);
    422 without an address or when it is verified already."""
    user = await require_user(request)
    check_csrf(request, None)
    await addresses.resend_verification(
        user,
        request.app.state.events,
        request.app.state.settings.secret_key,
        request.app.state.limiter,
        client_ip(request),
    )
    return respond(Accepted("A new verification link is on its way."), 202)


@api(
    "Verify an address with its token",
    body=TokenUse,
    response=Verified,
    csrf=False,
    errors=(400, 410),
)
async def verify_email(request: Request, body: TokenUse) -> Response:
    """POST /api/verify-email: the link's token; 400 when it is not one, 410 when used up."""
    user = await addresses.verify_email(body.token, request.app.state.events)
    return respond(Verified(user.username, user.email or ""))


@api(
    "Ask for a password reset link",
    body=ResetRequest,
    response=Accepted,
    status=202,
    csrf=False,
    errors=(429,),
)
async def request_password_reset(request: Request, body: ResetRequest) -> Response:
    """POST /api/password-reset: the same 202 whether or not the login names an account."""
    mail_later = await recovery.request_password_reset(body.login, **_mailing(request))
    return _accepted(mail_later)


@api(
    "Set a new password with a reset token",
    body=PasswordReset,
    response=Accepted,
    csrf=False,
    errors=(400, 410),
)
async def confirm_password_reset(request: Request, body: PasswordReset) -> Response:
    """POST /api/password-reset/confirm: every session of the account ends."""
    await recovery.reset_password(body.token, body.password, request.app.state.events)
    return respond(Accepted("Your password is changed. Sign in with it."))


@api(
    "Ask for a sign-in link",
    body=SignInLinkRequest,
    response=Accepted,
    status=202,
    csrf=False,
    errors=(429,),
)
async def request_sign_in_link(request: Request, body: SignInLinkRequest) -> Response:
    """POST /api/sign-in-link: the same 202 whether or not the address is an account's."""
    mail_later = await recovery.request_sign_in_link(body.email, **_mailing(request))
    return _accepted(mail_later)


@api(
    "Sign in with a sign-in link's token",
    body=TokenUse,
    response=SessionStarted,
    csrf=False,
    errors=(400, 403, 410),
)
async def confirm_sign_in_link(request: Request, body: TokenUse) -> Response:
    """POST /api/sign-in-link/confirm: starts a session like POST /api/session."""
    user = await recovery.sign_in_with_link(body.token, request.app.state.events)
    new_session = await service.start_session(user, request.app.state.settings.session_days)
    token = session_csrf_token(request.app.state.settings.secret_key, new_session.token)
    response = respond(SessionStarted(user.username, token))
    set_session_cookie(request, response, new_session)
    return response


@api("Change one's password", body=PasswordChange, response=SessionsEnded)
async def change_password(request: Request, body: PasswordChange) -> Response:
    """POST /api/me/password: every other session ends; this one stays signed in."""
    user = await require_user(request)
    session = await current_session(request)
    ended = await profile.change_password(
        user,
        body.current_password,
        body.new_password,
        session.id if session else None,
        request.app.state.events,
    )
    return respond(SessionsEnded(ended))


@api("The account's signed-in sessions", response=Sessions)
async def sessions(request: Request) -> Response:
    """GET /api/me/sessions: newest first, the caller's own marked current."""
    user = await require_user(request)
    session = await current_session(request)
    current = session.id if session else None
    return respond(
        Sessions(
            [
                SessionOut(row.id, row.created_at, row.expires_at, row.id == current)
                for row in await profile.sessions_of(user)
            ]
        )
    )


@api("Sign one session out", status=204)
async def end_session(request: Request) -> Response:
    """DELETE /api/me/sessions/{id}: that browser is signed out (its open pages too)."""
    user = await require_user(request)
    check_csrf(request, None)
    await profile.end_session_of(user, request.path_params["session_id"], request.app.state.events)
    return Response(status_code=204)


@api("Sign out everywhere", response=SessionsEnded)
async def end_every_session(request: Request) -> Response:
    """DELETE /api/me/sessions: every session of the account ends, this one included."""
    user = await require_user(request)
    check_csrf(request, None)
    ended = await profile.end_every_session(user, request.app.state.events)
    response = respond(SessionsEnded(ended))
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response


@api("Everything the forum holds about the account", response=AccountExport)
async def export(request: Request) -> Response:
    """GET /api/me/export: profile, replies with their text, follows, notifications, flags
    made and sessions; no secret (password hash, tokens)."""
    data = await account_export.export_account(await require_user(request))
    response = respond(msgspec.convert(data, AccountExport))
    response.headers["Content-Disposition"] = 'attachment; filename="forum-account.json"'
    return response


@api("Delete one's account", body=AccountDeletion, status=204)
async def delete_me(request: Request, body: AccountDeletion) -> Response:
    """DELETE /api/me: the account and what it holds go; its replies stay by "[deleted
    account]" ("keep") or go ("delete"); every session ends."""
    user = await require_user(request)
    await deletion.delete_account(user, body.password, body.replies, request.app.state.events)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response


@api("The members one muted", response=MutedList)
async def muted(request: Request) -> Response:
    """GET /api/me/muted: whom the account muted (their replies collapsed, no notices)."""
    members = await muting.muted_members(await require_user(request))
    return respond(MutedList([MutedMember(member.username, member.since) for member in members]))


@api("Mute a member", response=MuteState, errors=(422,))
async def mute(request: Request) -> Response:
    """POST /api/me/muted/{username}: their replies are collapsed for the caller and notify
    the caller no more; 404 for no such member, 422 for oneself."""
    user = await require_user(request)
    check_csrf(request, None)
    member = await muting.mute(user, request.path_params["username"], bus=request.app.state.events)
    return respond(MuteState(member.username, True))


@api("Unmute a member", status=204)
async def unmute(request: Request) -> Response:
    """DELETE /api/me/muted/{username}: their replies show again (204 also when not muted)."""
    user = await require_user(request)
    check_csrf(request, None)
    await muting.unmute(user, request.path_params["username"], bus=request.app.state.events)
    return Response(status_code=204)


def _accepted(mail_later: recovery.MailLater) -> Response:
    """The same 202 for everyone; the account's lookup and mail run once it has been sent."""
    response = respond(Accepted(MAIL_ON_ITS_WAY), 202)
    response.background = BackgroundTask(mail_later)
    return response


def _mailing(request: Request) -> dict[str, Any]:
    state = request.app.state
    return {
        "bus": state.events,
        "secret_key": state.settings.secret_key,
        "limiter": state.limiter,
        "ip": client_ip(request),
    }
