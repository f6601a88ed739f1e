"""Moderating members: suspensions (with or without hiding their replies) and roles. Each
action is checked here and recorded in the audit log in its own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forum.accounts.standing import FOREVER, is_moderator, require_active, require_moderator
from forum.actors import SystemActor
from forum.boundary import parse_whole
from forum.errors import Forbidden, NotFound
from forum.event_types import FlagsChanged, ReplyHidden, RoleChanged, UserSuspended
from forum.events import EventBus, Transaction
from forum.moderation.service import NOTE_MAX, move_status, record_audit
from forum.validation import ValidationError, text_field
from models import AuditAction, Flag, HideReason, Reply, ReplyStatus, Role, Session, User


def _parse_until(until: object) -> datetime:
    if until is None or until == "":
        return FOREVER
    if not isinstance(until, str):
        raise ValidationError({"until": "until must be an ISO 8601 date-time, or empty for good."})
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        raise ValidationError({"until": "until must be an ISO 8601 date-time."}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= datetime.now(UTC):
        raise ValidationError({"until": "until must be in the future."})
    return min(moment, FOREVER)


async def suspend_user(
    moderator: User | None,
    username: str,
    reason: object,
    until: object,
    hide_replies: object,
    *,
    bus: EventBus,
) -> User:
    """Suspend an account for a time or for good: its sessions end, its sockets close."""
    actor = require_moderator(moderator)
    target = await User.get_or_none(username_key=username.lower())
    if target is None:
        raise NotFound("There is no such user.")
    errors: dict[str, str] = {}
    text = text_field(errors, "reason", reason, min_length=1, max_length=NOTE_MAX, label="Reason")
    if errors:
        raise ValidationError(errors)
    moment = _parse_until(until)
    refusal = suspension_refusal(actor, target)
    if refusal:
        raise Forbidden(refusal)
    async with bus.transaction() as tx:
        target.suspended_until = moment
        target.suspension_reason = text
        await target.save(update_fields=["suspended_until", "suspension_reason"])
        await Session.filter(user_id=target.id).delete()
        await record_audit(
            actor, AuditAction.SUSPEND, target, note=f"until {moment:%Y-%m-%d %H:%M}: {text}"
        )
        if hide_replies is True or hide_replies in ("on", "true", "1"):
            await _hide_all_replies(actor, target, tx)
        await tx.emit(UserSuspended(user_id=target.id))
    return target


def suspension_refusal(actor: User | None, target: User) -> str | None:
    """Why actor may not suspend (or lift the suspension of) target, or None when they may:
    moderators act on readers, only admins on moderators and admins, nobody on themselves."""
    if not is_moderator(actor):
        return "Only moderators may do that."
    assert actor is not None
    if target.id == actor.id:
        return "You cannot suspend yourself."
    if target.role != Role.READER and actor.role != Role.ADMIN:
        return "Only an admin may suspend a moderator or an admin."
    return None


def may_see_suspension_reason(viewer: User | None, member: User) -> bool:
    """The reason for a suspension is for the moderators and the member, not for everyone."""
    return is_moderator(viewer) or (viewer is not None and viewer.id == member.id)


async def _hide_all_replies(actor: User, target: User, tx: Transaction) -> None:
    replies = await Reply.filter(author_id=target.id, status=ReplyStatus.VISIBLE).order_by("id")
    for reply in replies:
        change = await move_status(reply, ReplyStatus.HIDDEN)
        if change is None:
            continue  # hidden or deleted meanwhile
        reply.hidden_reason = HideReason.OTHER
        reply.hidden_note = "Author suspended"
        await reply.save(update_fields=["hidden_reason", "hidden_note"])
        # Hidden, so handled: it leaves the moderators' queue as any hidden reply does.
        await Flag.filter(reply_id=reply.id, resolved_at=None).update(resolved_at=datetime.now(UTC))
        await record_audit(actor, AuditAction.HIDE, reply, reason="other", note="Author suspended")
        await tx.emit(
            ReplyHidden(article_id=reply.article_id, reply_id=reply.id, reply_count_change=change)
        )
    await tx.emit(FlagsChanged())


async def unsuspend_user(moderator: User | None, username: str, *, bus: EventBus) -> User:
    """Lift a suspension."""
    actor = require_moderator(moderator)
    target = await User.get_or_none(username_key=username.lower())
    if target is None:
        raise NotFound("There is no such user.")
    refusal = suspension_refusal(actor, target)
    if refusal:
        raise Forbidden(refusal.replace("suspend", "lift the suspension of"))
    async with bus.transaction():
        target.suspended_until = None
        target.suspension_reason = ""
        await target.save(update_fields=["suspended_until", "suspension_reason"])
        await record_audit(actor, AuditAction.UNSUSPEND, target)
    return target


async def set_role(
    actor: User | SystemActor, username: str, role: object, *, bus: EventBus
) -> User:
    """Appoint or demote: an active admin in the app, or the command line (SYSTEM). The
    member's open pages are told at once, so none keeps a view it no longer has."""
    if not isinstance(actor, SystemActor) and require_active(actor).role != Role.ADMIN:
        raise Forbidden("Only an admin may appoint moderators.")
    try:
        new_role = Role(str(role))
    except ValueError:
        raise ValidationError({"role": "role must be reader, moderator or admin."}) from None
    target = await User.get_or_none(username_key=username.lower())
    if target is None:
        raise NotFound(f"There is no user {username!r}.")
    async with bus.transaction() as tx:
        target.role = new_role
        await target.save(update_fields=["role"])
        await record_audit(actor, AuditAction.SET_ROLE, target, note=new_role.value)
        await tx.emit(RoleChanged(user_id=target.id))
    return target


def suspension_end(days: object) -> datetime | None:
    """A helper for forms: 'days' as a number of days from now, or None for good."""
    if days in (None, "", "forever"):
        return None
    count = parse_whole(days, 1, 3650)
    if count is None:
        raise ValidationError({"until": "Choose how long: between 1 and 3650 days."})
    return datetime.now(UTC) + timedelta(days=count)
