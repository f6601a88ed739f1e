"""The JSON API's contract: what each request may carry and what each answer holds.

Request bodies and query parameters are decoded through these structs (forum.contracts), the
answers are encoded from them, and the OpenAPI document (forum.openapi) is generated from them,
so the three cannot drift. Limits come from where they are defined (services, boundary), enums
from models. A field's `title` is the label its error messages use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct, field

from forum.accounts.deletion import KeptReplies
from forum.accounts.recovery import LOGIN_MAX
from forum.accounts.service import EMAIL_MAX, EMAIL_PATTERN, PASSWORD_MAX, PASSWORD_MIN
from forum.accounts.tokens import TOKEN_MAX
from forum.boundary import ID_MAX
from forum.moderation.service import NOTE_MAX
from forum.replies.service import BODY_MAX
from forum.replies.thread import LIMIT_MAX, ORDER_MESSAGE, Order
from models import AuditAction, HideReason, NotificationKind, ReplyStatus, Role

#: Most notifications one request marks read.
MARK_MAX = 1000
#: Longest actor name the audit log is filtered by (a username).
ACTOR_MAX = 30

_DATE_TIME = {"format": "date-time"}
Id = Annotated[int, Meta(ge=1, le=ID_MAX, description="A row id.")]
Moment = Annotated[datetime, Meta(extra_json_schema=_DATE_TIME)]


class Request(Struct, forbid_unknown_fields=True):
    """A request body or query: fields not declared are refused."""


class Response(Struct):
    """An answer."""


# Errors ------------------------------------------------------------------------------------


class Errors(Response):
    """Every refusal: a human message per field ("detail" when no field is to blame)."""

    errors: dict[str, str]


# Accounts ----------------------------------------------------------------------------------


class NewAccount(Request):
    """Register an account."""

    username: Annotated[
        str,
        Meta(
            title="Username",
            min_length=3,
            max_length=30,
            pattern="^[A-Za-z0-9_-]+$",
            extra={"message": "Use only letters, digits, _ and -."},
        ),
    ]
    password: Annotated[
        str,
        Meta(
            title="Password",
            min_length=PASSWORD_MIN,
            max_length=PASSWORD_MAX,
            description="Kept exactly as sent.",
        ),
    ]
    email: (
        Annotated[
            str,
            Meta(
                title="Email",
                max_length=EMAIL_MAX,
                pattern=f"^(?:{EMAIL_PATTERN.pattern})?$",
                description="For notifications; empty or null for none.",
                extra={
                    "message": "Enter an email address like name@example.org, or leave it empty."
                },
            ),
        ]
        | None
    ) = None


class Account(Response):
    """A new account."""

    username: str
    email: str | None


class Credentials(Request):
    """Sign in."""

    username: Annotated[str, Meta(title="Username")]
    password: Annotated[str, Meta(title="Password")]


class SessionStarted(Response):
    """Signed in: send csrf_token as X-CSRF-Token with every unsafe request."""

    username: str
    csrf_token: str


class Me(Response):
    """The signed-in account, as its owner sees it."""

    username: str
    email: str | None
    #: Whether the owner opened the verification link; no notification mail goes out before.
    email_verified: bool
    role: Role
    created_at: Moment
    #: Be notified of replies to one's own replies.
    notify_replies: bool
    #: Notification mail at all ("no email at all" when false); the bell and feeds go on.
    email_notifications: bool


class MeChange(Request):
    """What to change of one's account; absent or null fields stay as they are."""

    email: (
        Annotated[
            str,
            Meta(
                title="Email",
                max_length=EMAIL_MAX,
                pattern=f"^(?:{EMAIL_PATTERN.pattern})?$",
                description="A new address (unverified until its link is opened); empty removes.",
                extra={
                    "message": "Enter an email address like name@example.org, or leave it empty."
                },
            ),
        ]
        | None
    ) = None
    notify_replies: Annotated[bool, Meta(title="Notify replies")] | None = None
    email_notifications: Annotated[bool, Meta(title="Email notifications")] | None = None


class Accepted(Response):
    """Taken in hand: the same answer whether or not an account matched."""

    detail: str


Token = Annotated[str, Meta(title="Token", min_length=1, max_length=TOKEN_MAX)]
NewSecret = Annotated[str, Meta(title="Password", min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]


class ResetRequest(Request):
    """Ask for a password reset link."""

    login: Annotated[str, Meta(title="Username or email", min_length=1, max_length=LOGIN_MAX)]


class SignInLinkRequest(Request):
    """Ask for a sign-in link."""

    email: Annotated[str, Meta(title="Email", min_length=1, max_length=EMAIL_MAX)]


class TokenUse(Request):
    """A token from a mailed link."""

    token: Token


class PasswordReset(Request):
    """A new password, with the token of a reset link."""

    token: Token
    password: NewSecret


class Verified(Response):
    """The address a verification link confirmed."""

    username: str
    email: str


class PasswordChange(Request):
    """A new password, knowing the current one."""

    current_password: Annotated[str, Meta(title="Current password", max_length=PASSWORD_MAX)]
    new_password: Annotated[
        str, Meta(title="New password", min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)
    ]


class SessionsEnded(Response):
    """How many sessions ended."""

    ended: int


class SessionOut(Response):
    """A signed-in browser or client."""

    id: int
    created_at: Moment
    expires_at: Moment
    #: The session of this request.
    current: bool


class Sessions(Response):
    """The account's signed-in sessions, newest first."""

    sessions: list[SessionOut]


class AccountDeletion(Request):
    """Delete one's account, knowing its password."""

    password: Annotated[str, Meta(title="Password", max_length=PASSWORD_MAX)]
    replies: Annotated[
        KeptReplies,
        Meta(
            title="Replies",
            description='"keep": shown by "[deleted account]"; "delete": gone ("[deleted]" '
            "stubs where replies answer them).",
        ),
    ]


class ExportedProfile(Response):
    """The account as the forum keeps it."""

    username: str
    email: str | None
    email_verified: bool
    role: Role
    created_at: Moment
    suspended_until: Moment | None
    notify_replies: bool
    email_notifications: bool


class ExportedReply(Response):
    """One of the account's replies, with its text (empty once deleted)."""

    id: int
    article: str
    parent_id: int | None
    status: ReplyStatus
    body: str
    body_html: str
    created_at: Moment
    edited_at: Moment | None


class ExportedFollow(Response):
    """A thread followed (or left: no notifications from it)."""

    article: str
    following: bool
    since: Moment


class ExportedNotification(Response):
    """A notification the account was given."""

    id: int
    kind: NotificationKind
    reply_id: int
    created_at: Moment
    read_at: Moment | None


class ExportedFlag(Response):
    """A flag the account raised."""

    reply_id: int
    reason: HideReason
    note: str
    created_at: Moment
    resolved: bool


class ExportedSession(Response):
    """A signed-in session: when, never its token."""

    created_at: Moment
    expires_at: Moment


class AccountExport(Response):
    """Everything the forum holds about the account; no secrets."""

    profile: ExportedProfile
    replies: list[ExportedReply]
    follows: list[ExportedFollow]
    notifications: list[ExportedNotification]
    flags: list[ExportedFlag]
    sessions: list[ExportedSession]


# Articles and replies ----------------------------------------------------------------------


class ArticleOut(Response):
    """An article, with the addresses of its page and its live socket."""

    slug: str
    title: str
    subtitle: str
    url: str
    live_url: str
    reply_count: int


class ArticleWithBody(ArticleOut):
    """An article with its rendered body."""

    body_html: str


class ArticleList(Response):
    """Every article."""

    articles: list[ArticleOut]


class ReplyQuery(Request):
    """Which chunk of one level of the thread."""

    parent: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=ID_MAX,
                description="Replies to this reply; omitted: replies to the article.",
                extra={"message": "parent must be a reply id."},
            ),
        ]
        | None
    ) = None
    limit: Annotated[int, Meta(ge=1, le=LIMIT_MAX, description="Replies per chunk.")] | None = None
    cursor: (
        Annotated[
            str,
            Meta(
                max_length=60,
                pattern=r"^[0-9]{1,18}(\.-?[0-9]{1,18}\.[0-9]{1,18})?$",
                description="next_cursor of the previous chunk, as it was given.",
                extra={"message": "cursor is not a valid position in the thread."},
            ),
        ]
        | None
    ) = None
    order: (
        Annotated[
            Order,
            Meta(
                description="Top-level order (top: most up-voted, weighed against age; see"
                " docs/ranking.md); replies to replies are oldest first.",
                extra={"message": ORDER_MESSAGE},
            ),
        ]
        | None
    ) = None


class NewReply(Request):
    """Reply to the article or to a reply."""

    body: Annotated[
        str,
        Meta(
            title="Reply",
            min_length=1,
            max_length=BODY_MAX,
            description="Markdown; raw HTML is not rendered.",
        ),
    ]
    parent_id: Annotated[int, Meta(ge=1, le=ID_MAX, title="parent_id")] | None = None


class ReplyEdit(Request):
    """New text for one's own reply."""

    body: Annotated[str, Meta(title="Reply", min_length=1, max_length=BODY_MAX)]


class ReplyOut(Response):
    """A reply; a stub ("deleted" or removed by a moderator) has no author and no text."""

    id: int
    parent_id: int | None
    author: str | None
    body_html: str
    created_at: Moment
    edited_at: Moment | None
    deleted: bool
    reply_count: int
    url: str
    score: int
    #: Whether the asker's up-vote stands on it (false when signed out).
    voted: bool = False


class ReplyChunk(Response):
    """A chunk of one level of the thread."""

    replies: list[ReplyOut]
    next_cursor: str | None


class VoteOut(Response):
    """A reply's score after a vote, and whether the asker's vote stands."""

    score: int
    voted: bool


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
                extra_json_schema=_DATE_TIME,
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


# Notifications -----------------------------------------------------------------------------


class Following(Response):
    """Whether the caller follows the thread now."""

    article: str
    following: bool


class NotificationOut(Response):
    """A reply someone should know about."""

    id: int
    kind: NotificationKind
    reply_id: int
    author: str
    article: str
    url: str
    created_at: Moment
    read: bool


class Notifications(Response):
    """The unread count and the newest notifications."""

    unread: int
    items: list[NotificationOut]


class MarkRead(Request):
    """Which notifications to mark read."""

    ids: (
        Annotated[
            list[Id],
            Meta(
                max_length=MARK_MAX,
                description="Omitted or null: all of them.",
                extra={"message": "ids must be a list of notification ids."},
            ),
        ]
        | None
    ) = None


class Marked(Response):
    """How many were marked, and how many are still unread."""

    marked: int
    unread: int


#: The OpenAPI document itself: any JSON object.
Document = dict[str, Any]
