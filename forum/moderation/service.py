"""Moderation rules. Every action is checked here, recorded in the audit log in the same
transaction, and its live events are published after commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from forum.accounts.standing import (
    require_active,
    require_moderator,
)
from forum.actors import SystemActor
from forum.errors import Forbidden, NotFound
from forum.event_types import (
    FlagsChanged,
    ReplyHidden,
    ReplyUnhidden,
    ThreadLocked,
    ThreadUnlocked,
)
from forum.events import EventBus
from forum.replies.pinning import unpin_in
from forum.validation import ValidationError, text_field
from forum.visibility import counted_change
from models import (
    Article,
    AuditAction,
    AuditEntry,
    Flag,
    HideReason,
    Reply,
    ReplyStatus,
    User,
)

NOTE_MAX = 500


class AlreadyFlagged(Exception):
    """The reader has flagged this reply before."""

    message = "You have already flagged this reply."


def parse_reason(value: object, errors: dict[str, str]) -> HideReason | None:
    """A hide or flag reason from a form or JSON."""
    try:
        return HideReason(str(value))
    except ValueError:
        errors["reason"] = "Choose a reason: spam, abuse, off-topic or other."
        return None


def _reason_and_note(reason: object, note: object) -> tuple[HideReason, str]:
    errors: dict[str, str] = {}
    parsed = parse_reason(reason, errors)
    text = text_field(errors, "note", note, min_length=0, max_length=NOTE_MAX, label="Note")
    if parsed is HideReason.OTHER and not text and "note" not in errors:
        errors["note"] = "Say what the reason is."
    if errors or parsed is None:
        raise ValidationError(errors)
    return parsed, text


async def record_audit(
    actor: User | SystemActor,
    action: AuditAction,
    target: Reply | Article | User,
    *,
    reason: str = "",
    note: str = "",
) -> None:
    if isinstance(target, Reply):
        kind, label = "reply", f"reply {target.id}"
    elif isinstance(target, Article):
        kind, label = "article", target.slug
    else:
        kind, label = "user", target.username
    await AuditEntry.create(
        actor_id=actor.id,
        actor_name=actor.username,
        action=action,
        target_type=kind,
        target_id=target.id,
        target_label=label[:200],
        reason=reason,
        # Notes may quote a reason that is itself up to NOTE_MAX long.
        note=note[:NOTE_MAX],
    )


async def move_status(reply: Reply, status: ReplyStatus) -> int | None:
    """Give reply a new status provided it still has the status it was read with (checked in
    the UPDATE itself, so that when two moderators act at once only one changes the reply
    count); the change to the reply count, for record_event, or None, with nothing written,
    when another writer came first."""
    if not await Reply.filter(id=reply.id, status=reply.status).update(status=status):
        return None
    change = counted_change(reply.status, status)
    reply.status = status
    return change


async def _move_or_refuse(reply: Reply, status: ReplyStatus) -> int:
    change = await move_status(reply, status)
    if change is None:
        raise ValidationError({"reply": "That reply changed meanwhile; reload and try again."})
    return change


async def _reply_or_404(reply_id: int) -> Reply:
    reply = await Reply.get_or_none(id=reply_id)
    if reply is None or reply.status == ReplyStatus.DELETED:
        raise NotFound("That reply does not exist.")
    return reply


async def hide_reply(
    moderator: User | None,
    reply_id: int,
    reason: object,
    note: object,
    *,
    bus: EventBus,
) -> Reply:
    """Hide a reply with a reason; it disappears from every reader's page."""
    actor = require_moderator(moderator)
    reply = await _reply_or_404(reply_id)
    parsed, text = _reason_and_note(reason, note)
    async with bus.transaction() as tx:
        change = await _move_or_refuse(reply, ReplyStatus.HIDDEN)
        reply.hidden_reason = parsed
        reply.hidden_note = text
        await reply.save(update_fields=["hidden_reason", "hidden_note"])
        # A pinned reply is always a visible one: readers must not find it at the top.
        await unpin_in(tx, reply)
        await Flag.filter(reply_id=reply.id, resolved_at=None).update(resolved_at=datetime.now(UTC))
        await record_audit(actor, AuditAction.HIDE, reply, reason=parsed.value, note=text)
        await tx.emit(
            ReplyHidden(article_id=reply.article_id, reply_id=reply.id, reply_count_change=change)
        )
        await tx.emit(FlagsChanged())
    return reply


async def unhide_reply(moderator: User | None, reply_id: int, *, bus: EventBus) -> Reply:
    """Show a hidden reply again."""
    actor = require_moderator(moderator)
    reply = await _reply_or_404(reply_id)
    if reply.status != ReplyStatus.HIDDEN:
        raise ValidationError({"reply": "That reply is not hidden."})
    async with bus.transaction() as tx:
        change = await _move_or_refuse(reply, ReplyStatus.VISIBLE)
        reply.hidden_reason = None  # type: ignore[assignment]
        reply.hidden_note = ""
        await reply.save(update_fields=["hidden_reason", "hidden_note"])
        await record_audit(actor, AuditAction.UNHIDE, reply)
        await tx.emit(
            ReplyUnhidden(article_id=reply.article_id, reply_id=reply.id, reply_count_change=change)
        )
    return reply


async def flag_reply(
    user: User | None, reply_id: int, reason: object, note: object, *, bus: EventBus
) -> Flag:
    """A reader reports a reply to the moderators, once per reply."""
    reader = require_active(user)
    reply = await _reply_or_404(reply_id)
    check_flaggable(reply, reader)
    errors: dict[str, str] = {}
    parsed = parse_reason(reason, errors)
    text = text_field(errors, "note", note, min_length=0, max_length=NOTE_MAX, label="Note")
    if errors or parsed is None:
        raise ValidationError(errors)
    if await Flag.filter(reply_id=reply.id, user_id=reader.id).exists():
        raise AlreadyFlagged()
    try:
        async with bus.transaction() as tx:
            flag = await Flag.create(reply_id=reply.id, user_id=reader.id, reason=parsed, note=text)
            await tx.emit(FlagsChanged())
    except IntegrityError:
        # The same reader flagging twice at once.
        raise AlreadyFlagged() from None
    return flag


def check_flaggable(reply: Reply, reader: User) -> None:
    """Only visible replies can be flagged, and not by their own author."""
    if reply.status != ReplyStatus.VISIBLE:
        raise NotFound("That reply does not exist.")
    if reply.author_id == reader.id:
        raise Forbidden("You cannot flag your own reply; edit or delete it instead.")


async def dismiss_flags(moderator: User | None, reply_id: int, *, bus: EventBus) -> int:
    """Clear a reply's open flags without hiding it; returns how many were dismissed."""
    actor = require_moderator(moderator)
    reply = await _reply_or_404(reply_id)
    async with bus.transaction() as tx:
        count = await Flag.filter(reply_id=reply.id, resolved_at=None).update(
            resolved_at=datetime.now(UTC)
        )
        await record_audit(actor, AuditAction.DISMISS_FLAGS, reply, note=f"{count} flag(s)")
        await tx.emit(FlagsChanged())
    return int(count)


async def set_lock(
    moderator: User | None, article: Article, locked: bool, *, bus: EventBus
) -> Article:
    """Lock (no new replies) or unlock a thread."""
    actor = require_moderator(moderator)
    async with bus.transaction() as tx:
        article.locked = locked
        await article.save(update_fields=["locked"])
        await record_audit(actor, AuditAction.LOCK if locked else AuditAction.UNLOCK, article)
        await tx.emit((ThreadLocked if locked else ThreadUnlocked)(article_id=article.id))
    return article


async def audit_log(
    moderator: User | None, *, action: str = "", actor: str = "", limit: int = 200
) -> list[AuditEntry]:
    """The newest audit entries, optionally filtered by action and actor name."""
    require_moderator(moderator)
    filters: dict[str, Any] = {}
    if action:
        try:
            filters["action"] = AuditAction(action)
        except ValueError:
            raise ValidationError({"action": "Unknown action."}) from None
    query = AuditEntry.filter(**filters)
    if actor:
        query = query.filter(Q(actor_name__iexact=actor))
    return await query.order_by("-id").limit(limit)
