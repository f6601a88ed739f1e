"""What a member manages about their own account: password, mail choices and sessions."""

from __future__ import annotations

from datetime import UTC, datetime

from forum.accounts import tokens
from forum.accounts.passwords import hash_password, verify_password
from forum.accounts.service import checked_password, end_sessions
from forum.errors import NotFound
from forum.event_types import PasswordChanged, SessionEnded
from forum.events import EventBus
from forum.validation import ValidationError
from models import Session, TokenPurpose, User

WRONG_PASSWORD = "That is not your current password."


async def change_password(
    user: User, current: object, new: object, keep_session: int | None, bus: EventBus
) -> int:
    """Change the password, knowing the current one; every other session ends (the one asking
    stays signed in) and pending reset links stop working. Returns how many sessions ended."""
    errors: dict[str, str] = {}
    secret = checked_password(errors, new, "new_password")
    if not isinstance(current, str) or not await verify_password(user.password_hash, current):
        errors["current_password"] = WRONG_PASSWORD
    if errors:
        raise ValidationError(errors)
    password_hash = await hash_password(secret)
    async with bus.transaction() as tx:
        await User.filter(id=user.id).update(password_hash=password_hash)
        user.password_hash = password_hash
        await tokens.void(user.id, TokenPurpose.RESET_PASSWORD)
        await tokens.void(user.id, TokenPurpose.SIGN_IN)
        ended = await end_sessions(tx, user.id, keep=keep_session)
        await tx.emit(PasswordChanged(user_id=user.id))
    return ended


async def set_mail_choices(
    user: User, *, notify_replies: bool | None = None, email_notifications: bool | None = None
) -> User:
    """Change the notification choices given (None leaves one as it is)."""
    changes: dict[str, bool] = {}
    if notify_replies is not None:
        changes["notify_replies"] = notify_replies
    if email_notifications is not None:
        changes["email_notifications"] = email_notifications
    if changes:
        await User.filter(id=user.id).update(**changes)
        for name, value in changes.items():
            setattr(user, name, value)
    return user


async def sessions_of(user: User) -> list[Session]:
    """The account's unexpired sessions, newest first."""
    return (
        await Session.filter(user_id=user.id, expires_at__gt=datetime.now(UTC))
        .order_by("-id")
        .all()
    )


async def end_session_of(user: User, session_id: int, bus: EventBus) -> None:
    """Sign one of the account's sessions out (NotFound for a session not theirs)."""
    async with bus.transaction() as tx:
        deleted = await Session.filter(id=session_id, user_id=user.id).delete()
        if not deleted:
            raise NotFound("That session does not exist (or has ended).")
        await tx.emit(SessionEnded(user_id=user.id, session_id=session_id))


async def end_every_session(user: User, bus: EventBus) -> int:
    """Sign the account out everywhere, this browser included; how many sessions ended."""
    async with bus.transaction() as tx:
        return await end_sessions(tx, user.id)
