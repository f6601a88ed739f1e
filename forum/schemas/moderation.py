"""The JSON API's schemas of moderation: hiding, flags, the queue, the audit log, locks,
suspensions and roles."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from forum.moderation.service import NOTE_MAX
from forum.schemas.base import ACTOR_MAX, DATE_TIME, Moment, Request, Response
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


class FlagQueue(Response):
    """Replies with open flags, most-flagged first."""

    flags: list[FlaggedReply]


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
