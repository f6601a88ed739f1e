"""A reply's edit history: each edit keeps the text it replaces, and readers may open the
earlier versions of any reply whose text they may read (forum.visibility decides)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from forum.errors import NotFound
from forum.replies.thread import visible_reply
from forum.visibility import shows_body
from models import Reply, ReplyRevision, User


@dataclass(frozen=True)
class Version:
    """One text of a reply: version 1 as first posted (or the oldest kept), the last current."""

    version: int
    source: str
    html: str
    #: When this text was written: posted, or the edit that wrote it.
    written_at: datetime
    current: bool


async def keep_revision(reply: Reply) -> None:
    """Keep the reply's text as it is now as its next earlier version (inside the edit's
    transaction, before the new text is saved)."""
    kept = await ReplyRevision.filter(reply_id=reply.id).count()
    await ReplyRevision.create(
        reply_id=reply.id,
        version=kept + 1,
        source=reply.source,
        html=reply.html,
        written_at=reply.edited_at or reply.created_at,
    )


async def reply_versions(reply_id: int, viewer: User | None) -> tuple[Reply, list[Version]]:
    """The reply (as visible_reply loads it) and its versions, oldest first, the current text
    last; NotFound unless viewer may read its text (a stub's history is no one's to see)."""
    reply = await visible_reply(reply_id, viewer)
    if reply is None or not shows_body(reply, viewer):
        raise NotFound("That reply does not exist (or is no longer visible).")
    earlier = await ReplyRevision.filter(reply_id=reply.id).order_by("version")
    versions = [
        Version(row.version, row.source, row.html, row.written_at, current=False) for row in earlier
    ]
    written = reply.edited_at or reply.created_at
    versions.append(Version(len(versions) + 1, reply.source, reply.html, written, current=True))
    return reply, versions
