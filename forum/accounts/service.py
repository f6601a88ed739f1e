"""Account rules: who may register, who is signed in, and how sessions start and end."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from forum.accounts.mailing import queue_mail
from forum.accounts.passwords import hash_password, verify_password
from forum.accounts.standing import is_suspended, suspension_message
from forum.db import lookup_models
from forum.errors import Forbidden
from forum.event_types import SessionEnded
from forum.events import EventBus, Transaction
from forum.ratelimits import RateLimiter
from forum.validation import ValidationError, text_field
from models import AccountMailKind, Session, User

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{3,30}")
#: One plain address: no display names, lists or comments that would widen the To header.
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
EMAIL_MAX = 254
USERNAME_TAKEN = "That username is taken."


class UsernameTaken(ValidationError):
    """The username exists already (case-insensitively)."""

    def __init__(self) -> None:
        super().__init__({"username": USERNAME_TAKEN})


@dataclass(frozen=True)
class NewSession:
    """A freshly started session: the raw token goes in the cookie, only its hash is stored."""

    token: str
    user: User
    expires_at: datetime


def username_key(username: str) -> str:
    """The one form of an account name that finds the account and keys its limits.

    Sign-in forgives surrounding spaces and case, so every spelling that reaches an account
    must share that account's sign-in attempts: the lookup and the limits both use this.
    """
    return username.strip().lower()


def token_hash(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def checked_email(errors: dict[str, str], email: object) -> str:
    """An email address as typed (trimmed), or "" for none; a message in errors["email"] when
    it is not one plain address."""
    address = text_field(errors, "email", email, min_length=0, max_length=EMAIL_MAX, label="Email")
    if address and "email" not in errors and not EMAIL_PATTERN.fullmatch(address):
        errors["email"] = "Enter an email address like name@example.org, or leave it empty."
    return address


def checked_password(errors: dict[str, str], password: object, field: str = "password") -> str:
    """A new password exactly as typed; a message in errors[field] when it is too short or long."""
    return text_field(
        errors,
        field,
        password,
        min_length=PASSWORD_MIN,
        max_length=PASSWORD_MAX,
        label="Password",
        verbatim=True,
    )


async def _quarantined(key: str, days: int) -> bool:
    """Whether a deleted account gave up this name less than days ago."""
    since = datetime.now(UTC) - timedelta(days=days)
    return await User.filter(former_username_key=key, deleted_at__gt=since).exists()


def _check_registration(
    username: object, password: object, email: object
) -> tuple[str, str, str | None]:
    errors: dict[str, str] = {}
    name = text_field(errors, "username", username, min_length=3, max_length=30, label="Username")
    if "username" not in errors and not USERNAME_PATTERN.fullmatch(name):
        errors["username"] = "Use only letters, digits, _ and -."
    secret = checked_password(errors, password)
    address = checked_email(errors, email)
    if errors:
        raise ValidationError(errors)
    return name, secret, address or None


async def register(
    username: object,
    password: object,
    email: object,
    *,
    limiter: RateLimiter,
    ip: str,
    bus: EventBus,
    secret_key: str,
    quarantine_days: int = 30,
) -> User:
    """Create an account; on bad input raise ValidationError (or UsernameTaken), write nothing.
    With an email address, its verification mail is queued with the account.

    Raises RateLimited when this address has registered too many accounts lately (counted
    before the costly password hash; mistakes in the form do not count).
    """
    name, secret, address = _check_registration(username, password, email)
    key = username_key(name)
    if await User.filter(username_key=key).exists() or await _quarantined(key, quarantine_days):
        raise UsernameTaken()
    await limiter.check_register(ip)
    password_hash = await hash_password(secret)
    try:
        async with bus.transaction() as tx:
            user = await User.create(
                username=name, username_key=key, email=address, password_hash=password_hash
            )
            if address:
                await queue_mail(tx, user, AccountMailKind.VERIFY_EMAIL, address, secret_key)
        return user
    except IntegrityError:
        # Lost a race with a concurrent registration of the same name.
        raise UsernameTaken() from None


async def authenticate(username: object, password: object) -> User | None:
    """The user these credentials belong to, or None (without saying which part was wrong)."""
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    if len(username) > 30 or len(password) > PASSWORD_MAX:
        return None
    user = await User.get_or_none(username_key=username_key(username))
    ok = await verify_password(user.password_hash if user else None, password)
    return user if ok and user else None


async def start_session(user: User, days: int) -> NewSession:
    """Start a session for user; the token has 256 bits of randomness."""
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(days=days)
    await Session.create(token_hash=token_hash(token), user=user, expires_at=expires_at)
    return NewSession(token=token, user=user, expires_at=expires_at)


async def session_for_token(token: str | None) -> Session | None:
    """The unexpired session a token names, or None."""
    if not token or len(token) > 100:
        return None
    return await Session.get_or_none(token_hash=token_hash(token), expires_at__gt=datetime.now(UTC))


async def end_session(token: str | None, bus: EventBus) -> None:
    """Delete the session server-side, so a replayed cookie is anonymous; the pages open with it
    stop showing what only its account may see."""
    if not token or len(token) > 100:
        return
    session = await Session.get_or_none(token_hash=token_hash(token))
    if session is None:
        return
    async with bus.transaction() as tx:
        await Session.filter(id=session.id).delete()
        await tx.emit(SessionEnded(user_id=session.user_id, session_id=session.id))


async def user_for_token(token: str | None) -> User | None:
    """The signed-in user for a session token, or None when absent, unknown or expired."""
    if not token or len(token) > 100:
        return None
    # Every signed-in request asks this: written by hand, it costs a third of what the ORM
    # spends building the same join (bench/live.py's post, bench/page.py).
    users = await lookup_models(
        User,
        "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.expires_at > ?",
        [token_hash(token), datetime.now(UTC)],
    )
    return users[0] if users else None


async def sign_in(username: object, password: object, limiter: RateLimiter, ip: str) -> User | None:
    """Authenticate with throttling per address and per account; refuse suspended accounts.

    Returns None for wrong credentials (without saying which part was wrong); raises
    RateLimited when throttled and Forbidden when the account is suspended.
    """
    # Keyed exactly as authenticate looks the account up; names past 30 characters never sign
    # in, so their key need not be longer.
    key = username_key(username)[:30] if isinstance(username, str) else ""
    await limiter.check_login(ip, key)
    user = await authenticate(username, password)
    if user is not None and is_suspended(user):
        raise Forbidden(suspension_message(user))
    return user


async def end_sessions(tx: Transaction, user_id: int, keep: int | None = None) -> int:
    """End every session of the account but keep (inside tx); each one's pages are signed out
    after commit (SessionEnded per session). Returns how many ended."""
    ended = Session.filter(user_id=user_id)
    if keep is not None:
        ended = ended.exclude(id=keep)
    ids = [session.id for session in await ended.only("id")]
    await Session.filter(id__in=ids).delete()
    for session_id in ids:
        await tx.emit(SessionEnded(user_id=user_id, session_id=session_id))
    return len(ids)
