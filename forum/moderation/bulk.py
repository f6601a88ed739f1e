"""Acting on many flagged replies at once: the ones a moderator ticked, or all of one author's.

Each action is one transaction with an audit entry per reply and the events of what changed;
a reply another moderator handled meanwhile is skipped (and said so), not an error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from forum.accounts.standing import require_moderator
from forum.boundary import parse_id
from forum.event_types import FlagsChanged, ReplyHidden
from forum.events import EventBus
from forum.moderation import members
from forum.moderation.service import NOTE_MAX, move_status, parse_reason, record_audit
from forum.validation import ValidationError, text_field
from models import AuditAction, Flag, HideReason, Reply, ReplyStatus, User

#: The most replies one request may name.
BULK_MAX = 500


class BulkAction(StrEnum):
    """What a moderator does to the replies chosen in the queue."""

    HIDE = "hide"
    DISMISS = "dismiss"
    SUSPEND = "suspend"


@dataclass(frozen=True)
class BulkOutcome:
    """What one bulk action did."""

    action: BulkAction
    #: Replies that left the queue.
    handled: list[int] = field(default_factory=list)
    #: Replies named that were no longer in the queue (handled meanwhile, or never flagged).
    skipped: list[int] = field(default_factory=list)
    #: The member suspended, for the suspend action.
    suspended: str | None = None


@dataclass(frozen=True)
class _Targets:
    replies: list[Reply]
    skipped: list[int]
    author: User | None


def _parse_ids(value: object, errors: dict[str, str]) -> list[int]:
    if value is None or value == []:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    ids = [parse_id(item) for item in items]
    if any(reply_id is None for reply_id in ids):
        errors["reply_ids"] = "reply_ids must be reply ids."
    elif len(ids) > BULK_MAX:
        errors["reply_ids"] = f"Choose at most {BULK_MAX} replies at once."
    return list(dict.fromkeys(reply_id for reply_id in ids if reply_id is not None))


async def _targets(
    reply_ids: object, author: object, errors: dict[str, str], *, author_required: bool
) -> _Targets:
    """The flagged replies named (or all of the author's), checked into errors."""
    ids = _parse_ids(reply_ids, errors)
    name = author.strip() if isinstance(author, str) else ""
    if author is not None and not isinstance(author, str):
        errors["author"] = "author must be a username."
    member = await User.get_or_none(username_key=name.lower()) if name else None
    if name and member is None:
        errors["author"] = f"There is no member called {name!r}."
    if author_required and not name and "author" not in errors:
        errors["author"] = "Say whose account to suspend."
    elif not author_required and ids and name:
        errors["author"] = "Choose replies or an author, not both."
    elif not author_required and not ids and not name and "reply_ids" not in errors:
        errors["reply_ids"] = "Choose at least one flagged reply (or all of one author's)."
    if errors:
        return _Targets([], [], member)
    flagged = Flag.filter(resolved_at=None)
    if member is not None:
        flagged = flagged.filter(reply__author_id=member.id)
    else:
        flagged = flagged.filter(reply_id__in=ids)
    open_ids = set(await flagged.distinct().values_list("reply_id", flat=True))
    replies = await Reply.filter(id__in=open_ids).order_by("id")
    skipped = [reply_id for reply_id in ids if reply_id not in open_ids]
    return _Targets(replies, skipped, member)


async def bulk_act(
    moderator: User | None,
    action: object,
    *,
    reply_ids: object = None,
    author: object = None,
    reason: object = None,
    note: object = None,
    until: object = None,
    hide_replies: object = False,
    bus: EventBus,
) -> BulkOutcome:
    """Hide or dismiss the chosen flagged replies, or suspend their author (optionally hiding
    all of the author's replies); every refusal names its field, nothing is half-written."""
    actor = require_moderator(moderator)
    errors: dict[str, str] = {}
    try:
        chosen = BulkAction(str(action))
    except ValueError:
        errors["action"] = "Choose what to do: hide, dismiss or suspend."
        chosen = None
    targets = await _targets(
        reply_ids, author, errors, author_required=chosen is BulkAction.SUSPEND
    )
    if chosen is BulkAction.HIDE:
        parsed = parse_reason(reason, errors)
        text = text_field(errors, "note", note, min_length=0, max_length=NOTE_MAX, label="Note")
        if parsed is HideReason.OTHER and not text and "note" not in errors:
            errors["note"] = "Say what the reason is."
    if errors or chosen is None:
        raise ValidationError(errors)
    if chosen is BulkAction.HIDE:
        assert parsed is not None
        return await _hide(actor, targets, parsed, text, bus)
    if chosen is BulkAction.DISMISS:
        return await _dismiss(actor, targets, bus)
    assert targets.author is not None
    return await _suspend(actor, targets, reason, until, hide_replies, bus)


async def _hide(
    actor: User, targets: _Targets, reason: HideReason, note: str, bus: EventBus
) -> BulkOutcome:
    handled, skipped = [], list(targets.skipped)
    async with bus.transaction() as tx:
        for reply in targets.replies:
            change = await move_status(reply, ReplyStatus.HIDDEN) if _visible(reply) else None
            if change is None:
                skipped.append(reply.id)  # deleted, or hidden by someone else meanwhile
                continue
            reply.hidden_reason = reason
            reply.hidden_note = note
            await reply.save(update_fields=["hidden_reason", "hidden_note"])
            await _resolve_flags([reply.id])
            await record_audit(actor, AuditAction.HIDE, reply, reason=reason.value, note=note)
            await tx.emit(
                ReplyHidden(
                    article_id=reply.article_id, reply_id=reply.id, reply_count_change=change
                )
            )
            handled.append(reply.id)
        await tx.emit(FlagsChanged())
    return BulkOutcome(BulkAction.HIDE, handled, skipped)


async def _dismiss(actor: User, targets: _Targets, bus: EventBus) -> BulkOutcome:
    handled, skipped = [], list(targets.skipped)
    async with bus.transaction() as tx:
        for reply in targets.replies:
            count = await _resolve_flags([reply.id])
            if not count:
                skipped.append(reply.id)  # dismissed by someone else meanwhile
                continue
            await record_audit(actor, AuditAction.DISMISS_FLAGS, reply, note=f"{count} flag(s)")
            handled.append(reply.id)
        await tx.emit(FlagsChanged())
    return BulkOutcome(BulkAction.DISMISS, handled, skipped)


async def _suspend(
    actor: User,
    targets: _Targets,
    reason: object,
    until: object,
    hide_replies: object,
    bus: EventBus,
) -> BulkOutcome:
    assert targets.author is not None
    # One transaction there: the suspension, its audit entry, and each reply hidden (audited).
    member = await members.suspend_user(
        actor, targets.author.username, reason, until, hide_replies, bus=bus
    )
    flagged = [reply.id for reply in targets.replies]
    still = set(
        await Flag.filter(resolved_at=None, reply_id__in=flagged).values_list("reply_id", flat=True)
    )
    handled = [reply_id for reply_id in flagged if reply_id not in still]
    return BulkOutcome(BulkAction.SUSPEND, handled, [], suspended=member.username)


def _visible(reply: Reply) -> bool:
    return reply.status == ReplyStatus.VISIBLE


async def _resolve_flags(reply_ids: Sequence[int]) -> int:
    """Close the open flags of these replies: they leave the queue."""
    return int(
        await Flag.filter(reply_id__in=reply_ids, resolved_at=None).update(
            resolved_at=datetime.now(UTC)
        )
    )
