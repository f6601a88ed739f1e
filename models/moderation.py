"""Moderation records: readers' flags and the append-only audit log."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.replies import HideReason


class Flag(Model):
    """A report by a reader that a reply needs a moderator (one per reader and reply)."""

    id = fields.IntField(primary_key=True)
    reply: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Reply", related_name="flags", on_delete=fields.CASCADE
    )
    reply_id: int
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="flags", on_delete=fields.CASCADE
    )
    user_id: int
    reason = fields.CharEnumField(HideReason, max_length=16)
    note = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    #: Set when a moderator dismissed the flag or hid the reply: it leaves the queue.
    resolved_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "flags"
        unique_together = [("reply_id", "user_id")]


class AuditAction(StrEnum):
    """Every kind of moderator action."""

    HIDE = "hide"
    UNHIDE = "unhide"
    DISMISS_FLAGS = "dismiss-flags"
    LOCK = "lock"
    UNLOCK = "unlock"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    SET_ROLE = "set-role"
    PIN = "pin"
    UNPIN = "unpin"


class AuditEntry(Model):
    """One moderator action, written in the same transaction as the action, never edited."""

    id = fields.IntField(primary_key=True)
    #: Null for actions taken from the command line.
    actor: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="audit_entries", null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
    #: Kept as text so the entry stays readable if the account is removed.
    actor_name = fields.CharField(max_length=30)
    action = fields.CharEnumField(AuditAction, max_length=24, db_index=True)
    #: What was acted on: "reply", "article" or "user", and its id.
    target_type = fields.CharField(max_length=16)
    target_id = fields.IntField()
    target_label = fields.CharField(max_length=200, default="")
    reason = fields.CharField(max_length=32, default="")
    note = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_log"
