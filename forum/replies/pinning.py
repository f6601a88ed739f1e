"""Taking a pin off a reply: by a moderator (forum.moderation.pins), and whenever a reply stops
being visible (hidden, or deleted by its author), so that a pinned reply is always visible."""

from __future__ import annotations

from forum.event_types import ReplyUnpinned
from forum.events import Transaction
from models import Reply


async def unpin_in(tx: Transaction, reply: Reply) -> bool:
    """Unpin reply inside tx, with its ReplyUnpinned for open pages, provided it is pinned
    (checked in the UPDATE itself); whether it was."""
    if not await Reply.filter(id=reply.id, pinned_at__isnull=False).update(pinned_at=None):
        return False
    reply.pinned_at = None
    await tx.emit(ReplyUnpinned(article_id=reply.article_id, reply_id=reply.id))
    return True
