"""The JSON API's schemas of accounts: registration, sign-in, the account, its mail links,
sessions, export and deletion."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from forum.accounts.deletion import KeptReplies
from forum.accounts.recovery import LOGIN_MAX
from forum.accounts.service import EMAIL_MAX, EMAIL_PATTERN, PASSWORD_MAX, PASSWORD_MIN
from forum.accounts.tokens import TOKEN_MAX
from forum.schemas.base import Moment, Request, Response
from models import HideReason, NotificationKind, ReplyStatus, Role

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


class ExportedRevision(Response):
    """An earlier text of one of the account's replies."""

    version: int
    body: str
    body_html: str
    written_at: Moment


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
    #: Its earlier texts, oldest first (kept from each edit).
    revisions: list[ExportedRevision] = []


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


class MutedMember(Response):
    """A member the account muted: their replies are collapsed for it, and notify it no more."""

    username: str
    since: Moment


class MutedList(Response):
    """The members the account muted, by name."""

    muted: list[MutedMember]


class MuteState(Response):
    """Whether the account now mutes the member."""

    username: str
    muted: bool


class AccountExport(Response):
    """Everything the forum holds about the account; no secrets."""

    profile: ExportedProfile
    replies: list[ExportedReply]
    follows: list[ExportedFollow]
    notifications: list[ExportedNotification]
    flags: list[ExportedFlag]
    sessions: list[ExportedSession]
    muted: list[MutedMember]
