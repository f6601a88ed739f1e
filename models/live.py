"""The live event log: what changed in a thread, numbered per article, kept for catch-up."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class EventKind(StrEnum):
    """What happened to a reply."""

    POSTED = "reply.posted"
    EDITED = "reply.edited"
    DELETED = "reply.deleted"
    HIDDEN = "reply.hidden"
    UNHIDDEN = "reply.unhidden"
    PINNED = "reply.pinned"
    UNPINNED = "reply.unpinned"
    LOCKED = "thread.locked"
    UNLOCKED = "thread.unlocked"


class LiveEvent(Model):
    """One change in a thread, in commit order of its article (seq only grows)."""

    id = fields.BigIntField(primary_key=True)
    article: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Article", related_name="live_events", on_delete=fields.CASCADE
    )
    article_id: int
    #: Position in the stream of its article: 1, 2, 3, never reused, survives restarts.
    seq = fields.BigIntField()
    kind = fields.CharEnumField(EventKind, max_length=32)
    #: The reply concerned (0 for thread events). Not a foreign key: it may be gone by a replay.
    reply_id = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "live_events"
        unique_together = [("article_id", "seq")]
