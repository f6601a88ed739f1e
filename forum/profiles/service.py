"""A member's profile: who they are, and the replies of theirs a viewer may read, newest first.

Which replies those are is forum.visibility's answer (readable_rows: hidden ones only for the
moderators and their author, deleted ones for no one); each row is passed through as_seen_by
as well, so that nothing the rules did not allow can reach a template or a serialiser.
"""

from __future__ import annotations

from dataclasses import dataclass

from forum.accounts.muting import is_muted
from forum.accounts.standing import is_suspended
from forum.boundary import ID_MAX, parse_whole
from forum.errors import NotFound
from forum.moderation import members
from forum.validation import ValidationError
from forum.visibility import as_seen_by, readable_rows
from models import Reply, User

#: Most replies one API request may ask for.
LIMIT_MAX = 100
#: Characters of a reply's text shown in the list.
EXCERPT_CHARS = 280


@dataclass(frozen=True)
class ProfileReply:
    """One reply in a member's list, as the viewer may read it, with its article loaded."""

    reply: Reply
    excerpt: str


@dataclass(frozen=True)
class RepliesPage:
    """One page of a member's replies, newest first, and where the next page starts."""

    items: list[ProfileReply]
    #: The id of the last reply shown, when older ones follow (the next page's `before`).
    next_cursor: int | None


@dataclass(frozen=True)
class Profile:
    """What a member's page shows to one viewer."""

    member: User
    #: Their replies this viewer may read.
    reply_count: int
    replies: RepliesPage
    #: The page started below this reply id (None: from the newest).
    before: int | None
    suspended: bool
    #: The suspension's reason is for the moderators and the member.
    show_reason: bool
    #: Whether the viewer may suspend them (or lift it).
    may_suspend: bool
    #: Whether the viewer muted them (their replies collapsed, no notifications from them).
    muted: bool


async def member_named(username: str) -> User:
    """The member with this name (any case), or NotFound; a deleted account has no profile."""
    member = await User.get_or_none(username_key=username.lower(), deleted_at=None)
    if member is None:
        raise NotFound("There is no such user.")
    return member


def parse_before(value: str | None) -> int | None:
    """A page's cursor from a query string: the id of the last reply already shown; empty or
    absent: from the newest."""
    if value is None or value == "":
        return None
    position = parse_whole(value, 1, ID_MAX)
    if position is None:
        raise ValidationError({"before": "before is not a valid position in the list."})
    return position


def excerpt(reply: Reply) -> str:
    """The start of the reply's text on one line ("" for a stub, whose text is gone)."""
    text = " ".join(reply.source.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


async def replies_of(
    member: User, viewer: User | None, *, before: int | None, limit: int
) -> RepliesPage:
    """A page of the member's replies that viewer may read, newest first, below before: a
    keyset on the id, so that no reply is shown twice or skipped while new ones arrive."""
    query = Reply.filter(readable_rows(viewer), author_id=member.id)
    if before is not None:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(limit + 1).select_related("article")
    more = len(rows) > limit
    shown = [as_seen_by(row, viewer) for row in rows[:limit]]
    items = [ProfileReply(row, excerpt(row)) for row in shown]
    return RepliesPage(items, shown[-1].id if more and shown else None)


async def reply_count(member: User, viewer: User | None) -> int:
    """How many of the member's replies viewer may read."""
    return await Reply.filter(readable_rows(viewer), author_id=member.id).count()


async def profile(member: User, viewer: User | None, *, before: int | None, limit: int) -> Profile:
    """Everything the member's page shows viewer, with the page of replies below before."""
    return Profile(
        member=member,
        reply_count=await reply_count(member, viewer),
        replies=await replies_of(member, viewer, before=before, limit=limit),
        before=before,
        suspended=is_suspended(member),
        show_reason=members.may_see_suspension_reason(viewer, member),
        may_suspend=members.suspension_refusal(viewer, member) is None,
        muted=await is_muted(viewer, member),
    )
