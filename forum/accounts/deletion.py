"""Deleting one's own account.

The row stays, nameless, so that replies kept under it still have an author: its name becomes
"[deleted account]" everywhere they are shown (pages, API, live frames, feeds, mail not yet
sent, all of which read the name when they render). Its address, password, sessions, follows,
notifications, tokens, pending mail and mutes (both ways) go. Its former name is held back
from registration for a quarantine, so no one can take it over and pass for it at once. The
audit log keeps the name each entry was written with: deleting an account does not rewrite a
moderator's record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from forum.accounts.muting import forget_mutes_of
from forum.accounts.passwords import verify_password
from forum.accounts.service import end_sessions
from forum.accounts.standing import DELETED_NAME as DELETED_NAME
from forum.event_types import AccountDeleted
from forum.events import EventBus
from forum.validation import ValidationError
from models import (
    AccountMail,
    AccountToken,
    Notification,
    OutboxItem,
    Role,
    Subscription,
    User,
)

WRONG_PASSWORD = "That is not your password."


class KeptReplies(StrEnum):
    """What becomes of a deleted account's replies."""

    #: They stay, by "[deleted account]".
    KEEP = "keep"
    #: "[deleted]" stubs where replies answer them, gone otherwise (hidden ones stay hidden,
    #: for the moderators' record).
    DELETE = "delete"


async def delete_account(user: User, password: object, replies: KeptReplies, bus: EventBus) -> None:
    """Delete the account, knowing its password (ValidationError, nothing written, otherwise).
    Every session ends (its pages close); AccountDeleted lets the replies follow the choice."""
    if not isinstance(password, str) or not await verify_password(user.password_hash, password):
        raise ValidationError({"password": WRONG_PASSWORD})
    async with bus.transaction() as tx:
        await end_sessions(tx, user.id)
        for model in (Subscription, Notification, AccountToken, AccountMail):
            await model.filter(user_id=user.id).delete()
        await OutboxItem.filter(recipient_id=user.id).delete()
        await forget_mutes_of(user.id)
        await User.filter(id=user.id).update(
            username=DELETED_NAME,
            username_key=f"~deleted-{user.id}",
            former_username_key=user.username_key,
            email=None,
            email_verified_at=None,
            # No argon2 hash is "!": nothing signs in with it.
            password_hash="!",
            feed_token=None,
            role=Role.READER,
            notify_replies=False,
            email_notifications=False,
            deleted_at=datetime.now(UTC),
        )
        await tx.emit(AccountDeleted(user_id=user.id, delete_replies=replies is KeptReplies.DELETE))
