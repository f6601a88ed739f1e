"""An account's standing: suspended or not, and what its role lets it do. The one owner of
these rules; visibility, access and the services ask here."""

from __future__ import annotations

from datetime import UTC, datetime

from forum.errors import Forbidden, SignInRequired
from models import Role, User

#: "Suspended for good" is stored as a date no one will reach.
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
#: What a deleted account's replies show in place of a name (forum.accounts.deletion). No
#: username can be this: brackets and spaces are not allowed in one.
DELETED_NAME = "[deleted account]"


def is_deleted_name(username: str) -> bool:
    """Whether a name as shown is a deleted account's: no link, no avatar, no profile."""
    return username == DELETED_NAME


def is_suspended(user: User, now: datetime | None = None) -> bool:
    """Whether the account is suspended at this moment."""
    return user.suspended_until is not None and user.suspended_until > (now or datetime.now(UTC))


def receives_mail(user: User) -> bool:
    """Whether notification mail may go to the account: an address its owner verified, mail
    not switched off, and not suspended. (The bell and the feeds do not ask.)"""
    return (
        bool(user.email)
        and user.email_verified_at is not None
        and user.email_notifications
        and not is_suspended(user)
    )


def is_moderator(viewer: User | None) -> bool:
    """Whether viewer moderates (moderators and admins), which a suspension puts on hold: a
    suspended moderator sees what readers see."""
    return (
        viewer is not None
        and viewer.role in (Role.MODERATOR, Role.ADMIN)
        and not is_suspended(viewer)
    )


def suspension_message(user: User) -> str:
    """What a suspended user is told when refused."""
    until = user.suspended_until
    when = "for good" if until and until >= FOREVER else f"until {until:%Y-%m-%d %H:%M} UTC"
    reason = f": {user.suspension_reason}" if user.suspension_reason else "."
    return f"Your account is suspended {when}{reason}"


def require_active(user: User | None) -> User:
    """The user, unless signed out (SignInRequired) or suspended (Forbidden)."""
    if user is None:
        raise SignInRequired()
    if is_suspended(user):
        raise Forbidden(suspension_message(user))
    return user


def require_moderator(user: User | None) -> User:
    """The user, if an active moderator; SignInRequired or Forbidden otherwise."""
    active = require_active(user)
    if not is_moderator(active):
        raise Forbidden("Only moderators may do that.")
    return active
