"""Getting back into an account by mail: password reset links and sign-in links.

Asking answers the same whatever was typed (an account or not, verified or not), so no one
learns who has an account; only a verified address is ever mailed. The answer does the same
work whoever is asked about (the input's checks and the rate limits): the account is looked up
and its mail queued after the answer has been sent (a background task of the response), so
neither its body nor its timing tells.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from forum.accounts import tokens
from forum.accounts.mailing import queue_mail
from forum.accounts.passwords import hash_password
from forum.accounts.service import checked_password, end_sessions, username_key
from forum.accounts.standing import is_suspended, suspension_message
from forum.errors import Forbidden
from forum.event_types import PasswordChanged
from forum.events import EventBus
from forum.ratelimits import RateLimiter
from forum.validation import ValidationError
from models import AccountMailKind, TokenPurpose, User

log = logging.getLogger("forum.accounts")

#: Longest login or address looked up (an address is at most 254 characters).
LOGIN_MAX = 254


def _typed(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: "Enter your username or email address."})
    if len(value) > LOGIN_MAX:
        raise ValidationError({field: f"At most {LOGIN_MAX} characters."})
    return value.strip().lower()


async def _verified_accounts(login: str, by_name: bool) -> list[User]:
    found = await User.filter(email__iexact=login, email_verified_at__isnull=False)
    if by_name and len(login) <= 30:
        named = await User.get_or_none(username_key=username_key(login))
        if named is not None and named.email and named.email_verified_at is not None:
            found = [named, *[user for user in found if user.id != named.id]]
    return found


#: What a request for mail leaves to do once its answer is sent (see MailLater).
MailLater = Callable[[], Awaitable[None]]


async def _mail_each(
    users: list[User], kind: AccountMailKind, bus: EventBus, secret_key: str, limiter: RateLimiter
) -> None:
    for user in users:
        if not await limiter.may_mail_account(user.id):
            continue
        async with bus.transaction() as tx:
            assert user.email is not None
            await queue_mail(tx, user, kind, user.email, secret_key)


def _after_the_answer(
    typed: str,
    by_name: bool,
    kind: AccountMailKind,
    bus: EventBus,
    secret_key: str,
    limiter: RateLimiter,
) -> MailLater:
    async def look_up_and_mail() -> None:
        # After the answer: a failure here is the sender's to report, never the asker's.
        try:
            users = await _verified_accounts(typed, by_name=by_name)
            await _mail_each(users, kind, bus, secret_key, limiter)
        except Exception:
            log.exception("could not queue the %s mail asked for", kind)

    return look_up_and_mail


async def request_password_reset(
    login: object, *, bus: EventBus, secret_key: str, limiter: RateLimiter, ip: str
) -> MailLater:
    """Take a request for a reset link by username or address: check what was typed and count
    it against the limits, the same work whoever is asked about. Looking the account up and
    queueing its mail (to a verified address only) is returned, to run once the answer has
    gone: how long the answer takes then cannot tell whether an account is behind login."""
    typed = _typed(login, "login")
    await limiter.check_account_mail(ip, typed, "login")
    return _after_the_answer(typed, True, AccountMailKind.RESET_PASSWORD, bus, secret_key, limiter)


async def request_sign_in_link(
    email: object, *, bus: EventBus, secret_key: str, limiter: RateLimiter, ip: str
) -> MailLater:
    """Take a request for a sign-in link as request_password_reset does; the work returned
    mails a link to each account whose verified address this is."""
    typed = _typed(email, "email")
    await limiter.check_account_mail(ip, typed, "email")
    return _after_the_answer(typed, False, AccountMailKind.SIGN_IN, bus, secret_key, limiter)


async def reset_password(token: object, password: object, bus: EventBus) -> User:
    """Set a new password with a reset link: every session of the account ends, and its other
    reset and sign-in links stop working. BadToken or ValidationError change nothing."""
    await tokens.check(token, TokenPurpose.RESET_PASSWORD)
    errors: dict[str, str] = {}
    secret = checked_password(errors, password)
    if errors:
        raise ValidationError(errors)
    password_hash = await hash_password(secret)
    async with bus.transaction() as tx:
        row = await tokens.use(token, TokenPurpose.RESET_PASSWORD)
        user = await User.get(id=row.user_id)
        await User.filter(id=user.id).update(password_hash=password_hash)
        await tokens.void(user.id, TokenPurpose.RESET_PASSWORD)
        await tokens.void(user.id, TokenPurpose.SIGN_IN)
        await end_sessions(tx, user.id)
        await tx.emit(PasswordChanged(user_id=user.id))
    return user


async def check_sign_in(token: object) -> None:
    """BadToken unless the sign-in link would work now (the page asks before using it)."""
    await tokens.check(token, TokenPurpose.SIGN_IN)


async def sign_in_with_link(token: object, bus: EventBus) -> User:
    """The account a sign-in link opens, using the link up; Forbidden for a suspended account
    (the link then still works once the suspension ends, if it has not expired)."""
    async with bus.transaction():
        row = await tokens.use(token, TokenPurpose.SIGN_IN)
        user = await User.get(id=row.user_id)
        if is_suspended(user):
            raise Forbidden(suspension_message(user))
    return user
