"""What can happen in the forum, as small typed events (see forum.events for how they travel).

Events carry ids, not objects: a subscriber loads what it needs as things are after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from forum.events import Event
from models import EventKind

# Thread events: each takes a position in its article's stream (given by the stream's hook
# inside the transaction) and reaches the thread's open pages, also when they catch up.


@dataclass(frozen=True)
class ThreadEvent(Event):
    """A change to a thread, at a position of its article's stream."""

    kind: ClassVar[EventKind]
    article_id: int
    #: The reply concerned (0 for a change to the thread itself).
    reply_id: int = 0
    #: What the change did to the count of replies readers see (forum.visibility).
    reply_count_change: int = 0
    #: Position in the article's stream: 0 until the stream's hook has recorded it.
    seq: int = 0


@dataclass(frozen=True)
class ReplyPosted(ThreadEvent):
    """A new reply, to the article or to another reply."""

    kind = EventKind.POSTED
    author_id: int = 0
    #: The author of the reply answered, when it answers one (notified of it).
    parent_author_id: int | None = None
    #: The names its text mentions (forum.markdown.mention_keys), as the service read them
    #: when it rendered the text; None when not known (the mentions hook reads the reply).
    mentioned: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ReplyEdited(ThreadEvent):
    """Its author changed a reply's text (or deleted their account, keeping the reply: it is
    shown again, by "[deleted account]")."""

    kind = EventKind.EDITED


@dataclass(frozen=True)
class ReplyDeleted(ThreadEvent):
    """Its author deleted a reply (a stub stays while replies answer it)."""

    kind = EventKind.DELETED
    #: The passage the deleted reply was about ("": none); None when not known (a replay, which
    #: reads the event back from the stream: every passage's count is sent again then).
    passage: str | None = None


@dataclass(frozen=True)
class ReplyHidden(ThreadEvent):
    """A moderator hid a reply."""

    kind = EventKind.HIDDEN


@dataclass(frozen=True)
class ReplyUnhidden(ThreadEvent):
    """A moderator showed a hidden reply again."""

    kind = EventKind.UNHIDDEN


@dataclass(frozen=True)
class ReplyPinned(ThreadEvent):
    """A moderator pinned a reply to the top of its thread."""

    kind = EventKind.PINNED


@dataclass(frozen=True)
class ReplyUnpinned(ThreadEvent):
    """A pinned reply went back to its place (a moderator unpinned it)."""

    kind = EventKind.UNPINNED


@dataclass(frozen=True)
class ThreadLocked(ThreadEvent):
    """A moderator locked the thread: no new replies."""

    kind = EventKind.LOCKED


@dataclass(frozen=True)
class ThreadUnlocked(ThreadEvent):
    """A moderator reopened the thread."""

    kind = EventKind.UNLOCKED


THREAD_EVENTS: dict[EventKind, type[ThreadEvent]] = {
    event_type.kind: event_type
    for event_type in (
        ReplyPosted,
        ReplyEdited,
        ReplyDeleted,
        ReplyHidden,
        ReplyUnhidden,
        ReplyPinned,
        ReplyUnpinned,
        ThreadLocked,
        ThreadUnlocked,
    )
}


def thread_event(kind: EventKind, article_id: int, reply_id: int, seq: int) -> ThreadEvent:
    """A thread event as the stream recorded it (for catch-up)."""
    return THREAD_EVENTS[kind](article_id=article_id, reply_id=reply_id, seq=seq)


@dataclass(frozen=True)
class ReplyVoted(Event):
    """A reply's score changed (a vote cast or taken back).

    Not a thread event: votes take no place in the thread's stream, so a burst of them
    cannot crowd out the replies there; open pages get a throttled score frame instead.
    """

    article_id: int
    reply_id: int


# Accounts.


@dataclass(frozen=True)
class UserSuspended(Event):
    """A moderator suspended an account: its sessions have ended."""

    user_id: int


@dataclass(frozen=True)
class RoleChanged(Event):
    """An account's role changed: what it may see changed with it."""

    user_id: int


@dataclass(frozen=True)
class SessionEnded(Event):
    """A session ended (signed out): the pages opened with it are signed out."""

    user_id: int
    session_id: int


@dataclass(frozen=True)
class EmailChanged(Event):
    """An account's email address changed (or was removed); the new one is unverified."""

    user_id: int


@dataclass(frozen=True)
class EmailVerified(Event):
    """An account's owner opened the verification link: its address may now get mail."""

    user_id: int


@dataclass(frozen=True)
class PasswordChanged(Event):
    """An account's password changed (by its owner, or through a reset link); the sessions it
    ended have their own SessionEnded."""

    user_id: int


@dataclass(frozen=True)
class AccountDeleted(Event):
    """Its owner deleted an account (its sessions have their own SessionEnded); its replies
    stay by "[deleted account]", or are deleted when delete_replies."""

    user_id: int
    delete_replies: bool


@dataclass(frozen=True)
class MuteChanged(Event):
    """A member muted another, or unmuted them: the muter's open pages collapse (or show)
    that member's replies from now on."""

    user_id: int
    muted_id: int
    muted: bool


# Moderation.


@dataclass(frozen=True)
class FlagsChanged(Event):
    """The moderators' queue of flagged replies changed."""


# Notifications.


@dataclass(frozen=True)
class SubscriptionChanged(Event):
    """A member followed or left a thread."""

    user_id: int
    article_id: int
    following: bool


@dataclass(frozen=True)
class NotificationsChanged(Event):
    """These members' unread notifications changed (new ones, read ones, or ones they may no
    longer read)."""

    user_ids: tuple[int, ...]


@dataclass(frozen=True)
class MailQueued(Event):
    """Mail was put in the outbox: the sender should look."""
