"""Single-use account tokens: mailed in a link, kept only as a hash, bound to one purpose.

A token is derived from a random seed with SECRET_KEY (HMAC-SHA256). The token row keeps only
the token's SHA-256; the mail waiting to be sent keeps the seed, which is worthless without the
key, until it is sent. So a copy of the database alone opens no account, and a sender in another
process (sharing SECRET_KEY, as every process must) can still write the link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from models import AccountToken, TokenPurpose, User

#: How long each kind of link works.
LIFETIMES = {
    TokenPurpose.VERIFY_EMAIL: timedelta(hours=48),
    TokenPurpose.RESET_PASSWORD: timedelta(hours=1),
    TokenPurpose.SIGN_IN: timedelta(minutes=15),
}
#: Longer text is no token of ours (they are 43 characters).
TOKEN_MAX = 100

INVALID = "This link is not valid: it may be incomplete or changed. Ask for a new one."
USED = "This link has been used already (or a newer one replaced it). Ask for a new one."
EXPIRED = "This link has expired. Ask for a new one."
MOVED = "This link was for an address the account no longer uses."


class BadToken(Exception):
    """A token that must change nothing: 400 when it names no token of this purpose, 410 when
    it did but no longer works."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Issued:
    """A new token: its seed goes in the mail row, its hash in the token row."""

    token: AccountToken
    seed: str


def token_from_seed(secret: str, seed: str) -> str:
    """The token a seed stands for, under this SECRET_KEY."""
    digest = hmac.new(secret.encode(), b"account-token:" + seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(user: User, purpose: TokenPurpose, email: str, secret: str) -> Issued:
    """A new token for user (call inside the transaction that mails it); the user's earlier
    unused tokens of this purpose stop working, so only the newest link counts."""
    now = datetime.now(UTC)
    await void(user.id, purpose, now)
    seed = secrets.token_urlsafe(32)
    row = await AccountToken.create(
        user_id=user.id,
        purpose=purpose,
        token_hash=token_hash(token_from_seed(secret, seed)),
        email=email,
        expires_at=now + LIFETIMES[purpose],
    )
    return Issued(row, seed)


async def void(user_id: int, purpose: TokenPurpose, now: datetime | None = None) -> None:
    """Make every unused token of this purpose of the user unusable."""
    await AccountToken.filter(user_id=user_id, purpose=purpose, used_at=None).update(
        used_at=now or datetime.now(UTC)
    )


async def check(token: object, purpose: TokenPurpose) -> AccountToken:
    """The unused, unexpired token of this purpose, without using it; BadToken otherwise."""
    if not isinstance(token, str) or not token or len(token) > TOKEN_MAX:
        raise BadToken(400, INVALID)
    # A token of another purpose, or altered by a character, is simply not found.
    row = await AccountToken.get_or_none(token_hash=token_hash(token), purpose=purpose)
    if row is None:
        raise BadToken(400, INVALID)
    if row.used_at is not None:
        raise BadToken(410, USED)
    if row.expires_at <= datetime.now(UTC):
        raise BadToken(410, EXPIRED)
    return row


async def use(token: object, purpose: TokenPurpose) -> AccountToken:
    """Use the token (call inside the transaction of what it allows): BadToken unless this call
    is the one that used it, so two requests racing with one link cannot both succeed."""
    row = await check(token, purpose)
    now = datetime.now(UTC)
    taken = await AccountToken.filter(id=row.id, used_at=None, expires_at__gt=now).update(
        used_at=now
    )
    if not taken:
        raise BadToken(410, USED)
    return row
