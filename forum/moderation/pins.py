"""Pins: moderators put replies at the top of their thread, in every order, and take them back.

Only a visible reply may be pinned: hiding one, or its author deleting it, unpins it (in the
same transaction), so a pinned reply never shows what a reader may not see. Each pin and unpin
is audited and is a thread event, so that open pages move the reply live and catch up on it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from forum.accounts.standing import require_moderator
from forum.errors import NotFound
from forum.event_types import ReplyPinned
from forum.events import EventBus
from forum.moderation.service import record_audit
from forum.replies.pinning import unpin_in
from forum.validation import ValidationError
from models import AuditAction, Reply, ReplyStatus, User

NOT_PINNABLE = "Only a visible reply can be pinned; this one is hidden or deleted."


async def pin_reply(moderator: User | None, reply_id: int, *, bus: EventBus) -> Reply:
    """Pin a visible reply to the top of its thread; pinning it again changes nothing."""
    actor = require_moderator(moderator)
    reply = await _reply_or_404(reply_id)
    if reply.pinned_at is not None:
        return reply
    async with bus.transaction() as tx:
        now = datetime.now(UTC)
        # Checked in the statement itself: a moderator may hide it, or another pin it, meanwhile.
        pinned = await Reply.filter(
            id=reply.id, status=ReplyStatus.VISIBLE, pinned_at__isnull=True
        ).update(pinned_at=now)
        if not pinned:
            current = await _reply_or_404(reply_id)
            if current.status != ReplyStatus.VISIBLE:
                raise ValidationError({"reply": NOT_PINNABLE})
            return current
        reply.pinned_at = now
        await record_audit(actor, AuditAction.PIN, reply)
        await tx.emit(ReplyPinned(article_id=reply.article_id, reply_id=reply.id))
    return reply


async def unpin_reply(moderator: User | None, reply_id: int, *, bus: EventBus) -> Reply:
    """Put a pinned reply back in its place; unpinning one that is not pinned changes nothing."""
    actor = require_moderator(moderator)
    reply = await _reply_or_404(reply_id)
    async with bus.transaction() as tx:
        if await unpin_in(tx, reply):
            await record_audit(actor, AuditAction.UNPIN, reply)
    return reply


async def _reply_or_404(reply_id: int) -> Reply:
    reply = await Reply.get_or_none(id=reply_id)
    if reply is None:
        raise NotFound("That reply does not exist.")
    if reply.status != ReplyStatus.VISIBLE and reply.pinned_at is None:
        # Hidden or deleted: a moderator sees it, but it cannot be pinned.
        raise ValidationError({"reply": NOT_PINNABLE})
    return reply
