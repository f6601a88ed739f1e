"""Queueing account mail: a row written in the transaction that asks for it, sent after commit
by the mail sender (forum.notifications.sender), which MailQueued wakes."""

from __future__ import annotations

from datetime import UTC, datetime

from forum.accounts import tokens
from forum.event_types import MailQueued
from forum.events import Transaction
from models import AccountMail, AccountMailKind, TokenPurpose, User

#: The token each kind of mail carries.
PURPOSES = {
    AccountMailKind.VERIFY_EMAIL: TokenPurpose.VERIFY_EMAIL,
    AccountMailKind.RESET_PASSWORD: TokenPurpose.RESET_PASSWORD,
    AccountMailKind.SIGN_IN: TokenPurpose.SIGN_IN,
}


async def queue_mail(
    tx: Transaction, user: User, kind: AccountMailKind, to_address: str, secret: str
) -> None:
    """Queue a mail of this kind to to_address, with a new token when the kind needs one."""
    seed = ""
    purpose = PURPOSES.get(kind)
    if purpose is not None:
        seed = (await tokens.issue(user, purpose, to_address, secret)).seed
    await AccountMail.create(
        user_id=user.id,
        kind=kind,
        to_address=to_address,
        token_seed=seed,
        due_at=datetime.now(UTC),
    )
    await tx.emit(MailQueued())
