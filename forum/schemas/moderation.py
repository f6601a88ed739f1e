"""The JSON API's schemas of moderation: hiding, flags, the queue, the audit log, locks,
suspensions and roles."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from forum.moderation.bulk import BULK_MAX, BulkAction
from forum.moderation.flagged import CURSOR_MESSAGE, CURSOR_PATTERN, QUEUE_LIMIT_MAX
from forum.moderation.service import NOTE_MAX
from forum.schemas.base import ACTOR_MAX, DATE_TIME, Id, Moment, Request, Response
from models import AuditAction, HideReason, ReplyStatus, Role

# Moderation --------------------------------------------------------------------------------


class NoFields(Request):
    """An empty object (or no body at all)."""


class Judgement(Request):
    """Why a reply is hidden or flagged."""

    reason: Annotated[
        HideReason,
        Meta(
            title="Reason", extra={"message": "Choose a reason: spam, abuse, off-topic or other."}
        ),
    ]
    note: Annotated[
        str, Meta(title="Note", max_length=NOTE_MAX, description="Required when reason is other.")
    ] = ""


class ReplyState(Response):
    """A reply's moderation state."""

    id: int
    status: ReplyStatus
    hidden_reason: HideReason | None
    hidden_note: str


class PinState(Response):
    """Whether a reply is pinned to the top of its thread."""

    id: int
    pinned: bool


class FlagOut(Response):
    """A new flag."""

    id: int
    reply_id: int
    reason: HideReason


class Dismissed(Response):
    """How many open flags were dismissed."""

    dismissed: int


class FlaggedReply(Response):
    """A reply in the flag queue."""

    reply_id: int
    article: str
    author: str
    body_html: str
    status: ReplyStatus
    flag_count: int
    reasons: list[str]
    url: str


class FlagQueueQuery(Request):
    """Which chunk of the flag queue."""

    limit: (
        Annotated[int, Meta(ge=1, le=QUEUE_LIMIT_MAX, description="Flagged replies per chunk.")]
        | None
    ) = None
    cursor: (
        Annotated[
            str,
            Meta(
                max_length=40,
                pattern=CURSOR_PATTERN,
                description="next_cursor of the previous chunk, as it was given; empty or"
                " omitted: from the start.",
                extra={"message": CURSOR_MESSAGE},
            ),
        ]
        | None
    ) = None


class FlagQueue(Response):
    """Replies with open flags, most-flagged first, a chunk at a time."""

    flags: list[FlaggedReply]
    #: How many flagged replies the whole queue holds now.
    total: int
    #: Pass as cursor for the next chunk; null when this chunk is the last.
    next_cursor: str | None


class BulkRequest(Request):
    """One action on several flagged replies: those named, or all of one author's."""

    action: Annotated[
        BulkAction,
        Meta(
            title="Action",
            description="hide or dismiss the replies' flags; suspend the author.",
            extra={"message": "Choose what to do: hide, dismiss or suspend."},
        ),
    ]
    reply_ids: (
        Annotated[
            list[Id],
            Meta(
                max_length=BULK_MAX,
                description="The flagged replies (hide, dismiss); or give author instead.",
                extra={"message": "reply_ids must be a list of reply ids."},
            ),
        ]
        | None
    ) = None
    author: (
        Annotated[
            str,
            Meta(
                title="author",
                max_length=ACTOR_MAX,
                description="Every flagged reply of this member (hide, dismiss); the member to"
                " suspend (suspend).",
            ),
        ]
        | None
    ) = None
    reason: (
        Annotated[
            str,
            Meta(
                title="Reason",
                max_length=NOTE_MAX,
                description="hide: spam, abuse, off-topic or other; suspend: shown to them.",
            ),
        ]
        | None
    ) = None
    note: Annotated[
        str, Meta(title="Note", max_length=NOTE_MAX, description="hide: required for other.")
    ] = ""
    until: (
        Annotated[
            str,
            Meta(
                title="until",
                description="suspend: ISO 8601, in the future; omitted or null: for good.",
                extra_json_schema=DATE_TIME,
            ),
        ]
        | None
    ) = None
    hide_replies: Annotated[
        bool, Meta(title="hide_replies", description="suspend: hide all the author's replies.")
    ] = False


class BulkDone(Response):
    """What one bulk action did, and how many flagged replies are left."""

    action: BulkAction
    #: Replies that left the queue.
    handled: list[int]
    #: Replies named that were not in the queue any more (handled meanwhile).
    skipped: list[int]
    #: The member suspended (suspend).
    suspended: str | None
    total: int


class LogQuery(Request):
    """Filters of the audit log."""

    action: Annotated[AuditAction, Meta(extra={"message": "Unknown action."})] | None = None
    actor: Annotated[str, Meta(title="actor", max_length=ACTOR_MAX)] | None = None


class LogEntry(Response):
    """One moderator action."""

    id: int
    actor_name: str = field(name="actor")
    action: AuditAction
    target_type: str
    target_id: int
    target_label: str = field(name="target")
    reason: str
    note: str
    created_at: Moment


class AuditLog(Response):
    """The newest audit entries."""

    entries: list[LogEntry]


class LockState(Response):
    """Whether a thread is locked."""

    slug: str
    locked: bool


class Suspension(Request):
    """Suspend a member."""

    reason: Annotated[str, Meta(title="Reason", min_length=1, max_length=NOTE_MAX)]
    until: (
        Annotated[
            str,
            Meta(
                title="until",
                description="ISO 8601, in the future; omitted or null: for good.",
                extra_json_schema=DATE_TIME,
            ),
        ]
        | None
    ) = None
    hide_replies: Annotated[bool, Meta(title="hide_replies")] = False


class RoleChange(Request):
    """A new role."""

    role: Annotated[Role, Meta(extra={"message": "role must be reader, moderator or admin."})]


class UserState(Response):
    """A member's role and suspension (its reason only for moderators and the member)."""

    username: str
    role: Role
    suspended: bool
    suspended_until: Moment | None
    suspension_reason: str | None
