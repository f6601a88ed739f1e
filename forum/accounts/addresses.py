"""An account's email address: setting or changing it, and verifying it through a mailed link.

Until its owner opens the link, an address is unverified and gets no notification mail
(forum.accounts.standing.receives_mail), so no one can have the forum mail someone else.
"""

from __future__ import annotations

from datetime import UTC, datetime

from forum.accounts import tokens
from forum.accounts.mailing import queue_mail
from forum.accounts.service import checked_email
from forum.event_types import EmailChanged, EmailVerified
from forum.events import EventBus
from forum.ratelimits import RateLimiter
from forum.validation import ValidationError
from models import AccountMailKind, TokenPurpose, User

ALREADY_VERIFIED = "This address is verified already."
NO_ADDRESS = "Add an email address first."


def same_address(a: str | None, b: str | None) -> bool:
    """Whether two addresses are the same mailbox for our purposes (case aside)."""
    return (a or "").lower() == (b or "").lower()


async def change_email(user: User, email: object, bus: EventBus, secret_key: str) -> User:
    """Set, change or (with "") remove the account's address. A new address is unverified and
    gets a verification mail; a verified old address is told of the change. Typing the current
    address again changes nothing."""
    errors: dict[str, str] = {}
    address = checked_email(errors, email)
    if errors:
        raise ValidationError(errors)
    if address == (user.email or ""):
        return user
    old, old_verified = user.email, user.email_verified_at is not None
    async with bus.transaction() as tx:
        await User.filter(id=user.id).update(email=address or None, email_verified_at=None)
        user.email, user.email_verified_at = address or None, None
        # Links sent to the old address must not verify the new one (nor the old, later).
        await tokens.void(user.id, TokenPurpose.VERIFY_EMAIL)
        if address:
            await queue_mail(tx, user, AccountMailKind.VERIFY_EMAIL, address, secret_key)
        # Only a verified old address is told: an unverified one may never have been theirs.
        if old and old_verified and not same_address(old, address):
            await queue_mail(tx, user, AccountMailKind.EMAIL_CHANGED, old, secret_key)
        await tx.emit(EmailChanged(user_id=user.id))
    return user


async def resend_verification(
    user: User, bus: EventBus, secret_key: str, limiter: RateLimiter, ip: str
) -> None:
    """Mail a new verification link (the old ones stop working); rate-limited per account."""
    if not user.email:
        raise ValidationError({"email": NO_ADDRESS})
    if user.email_verified_at is not None:
        raise ValidationError({"email": ALREADY_VERIFIED})
    await limiter.check_account_mail(ip, f"user:{user.id}", "email")
    async with bus.transaction() as tx:
        await queue_mail(tx, user, AccountMailKind.VERIFY_EMAIL, user.email, secret_key)


async def verify_email(token: object, bus: EventBus) -> User:
    """Verify the address a token was mailed to (tokens.BadToken when it does not work, or the
    account has another address by now). Changes nothing on failure."""
    async with bus.transaction() as tx:
        row = await tokens.use(token, TokenPurpose.VERIFY_EMAIL)
        user = await User.get(id=row.user_id)
        if not same_address(user.email, row.email):
            raise tokens.BadToken(410, tokens.MOVED)
        user.email_verified_at = datetime.now(UTC)
        await User.filter(id=user.id).update(email_verified_at=user.email_verified_at)
        await tx.emit(EmailVerified(user_id=user.id))
    return user


async def check_verification(token: object) -> None:
    """BadToken unless the token would verify an address now (the page asks before using it)."""
    row = await tokens.check(token, TokenPurpose.VERIFY_EMAIL)
    user = await User.get(id=row.user_id)
    if not same_address(user.email, row.email):
        raise tokens.BadToken(410, tokens.MOVED)
