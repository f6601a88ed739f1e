"""Replies: the threaded discussion under an article."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ReplyStatus(StrEnum):
    """Lifecycle of a reply. Who may see which is decided in forum.visibility."""

    VISIBLE = "visible"
    #: Deleted by its author but kept as a stub because it has replies under it.
    DELETED = "deleted"
    #: Hidden by a moderator: moderators and its author still see it, others at most a stub.
    HIDDEN = "hidden"


class HideReason(StrEnum):
    """Why a moderator hid a reply."""

    SPAM = "spam"
    ABUSE = "abuse"
    OFF_TOPIC = "off-topic"
    OTHER = "other"


class Reply(Model):
    """A reply to an article (parent is null) or to another reply."""

    id = fields.IntField(primary_key=True)
    article: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Article", related_name="replies", on_delete=fields.CASCADE
    )
    parent: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Reply", related_name="children", null=True, on_delete=fields.CASCADE
    )
    author: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="replies", on_delete=fields.CASCADE
    )
    # Foreign-key columns Tortoise adds, declared for type checkers.
    article_id: int
    parent_id: int | None
    author_id: int
    status = fields.CharEnumField(ReplyStatus, max_length=16, default=ReplyStatus.VISIBLE)
    #: 0 for a reply to the article, one more than the parent below it.
    depth = fields.IntField(default=0)
    #: Ids of the ancestors, root first, each followed by a slash (empty at the top level).
    ancestry = fields.TextField(default="")
    #: Markdown as written (emptied when deleted).
    source = fields.TextField()
    #: Sanitised HTML rendered from source.
    html = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    edited_at = fields.DatetimeField(null=True)
    #: Whether any reply answers this one (kept up to date by the reply service).
    has_replies = fields.BooleanField(default=False, db_default=False)
    #: Set while the reply is hidden by a moderator.
    hidden_reason = fields.CharEnumField(HideReason, max_length=16, null=True)
    hidden_note = fields.CharField(max_length=500, default="", db_default="")
    #: Up-votes standing now (kept by the vote service with atomic increments).
    score = fields.IntField(default=0, db_default=0)
    #: Anchor of the passage of the article the reply is about (null: about the article as a whole).
    passage = fields.CharField(max_length=40, null=True)
    #: The words of that passage it quotes (whitespace collapsed, null without a passage).
    quote = fields.TextField(null=True)
    #: Set while a moderator has it pinned to the top of its thread (only visible replies).
    pinned_at = fields.DatetimeField(null=True)

    class Meta:
        table = "replies"
        indexes = [
            # The thread reads siblings in id order under one parent of one article.
            ("article_id", "parent_id", "id"),
            # Previews and child counts read the children of many replies at once, by parent alone.
            ("parent_id", "id"),
            # Reply counts read this index alone, not every row of the thread.
            ("article_id", "status"),
            # A member's profile reads their replies newest first.
            ("author_id", "id"),
            # The article page counts the visible replies of each passage from this index alone.
            ("article_id", "passage", "status"),
            # The pinned replies of a thread, read with its first page.
            ("article_id", "pinned_at"),
        ]


class ReplyVote(Model):
    """An up-vote of a reply by a member (a vote taken back stays, as history).

    The history lets the "top" order rank replies by their score at a past moment (the
    first page's), so paging stays exact while votes change. One standing vote per member
    and reply: slot is 0 while it stands and the row's own id once taken back, so the
    unique (reply, user, slot) allows one standing vote and any number of past ones.
    """

    id = fields.IntField(primary_key=True)
    reply: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Reply", related_name="votes", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="votes", on_delete=fields.CASCADE
    )
    reply_id: int
    user_id: int
    #: 0 while the vote stands, the row's id once taken back.
    slot = fields.IntField(default=0)
    # Times in microseconds since the epoch: integers compare alike in SQLite and PostgreSQL.
    #: When the vote was cast.
    voted_us = fields.BigIntField()
    #: When it was taken back (null while it stands).
    retracted_us = fields.BigIntField(null=True)

    class Meta:
        table = "reply_votes"
        unique_together = [("reply_id", "user_id", "slot")]


class ReplyRevision(Model):
    """An earlier text of a reply, kept when its author edits it (the current text stays on
    the reply). Removed with the text when its author deletes the reply."""

    id = fields.IntField(primary_key=True)
    reply: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Reply", related_name="revisions", on_delete=fields.CASCADE
    )
    reply_id: int
    #: 1 for the text as first posted, then one more per edit.
    version = fields.IntField()
    #: Markdown as written then.
    source = fields.TextField()
    #: Sanitised HTML rendered from source then.
    html = fields.TextField()
    #: When this text was written (posted, or the edit that wrote it).
    written_at = fields.DatetimeField()

    class Meta:
        table = "reply_revisions"
        unique_together = [("reply_id", "version")]
