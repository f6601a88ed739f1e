"""The JSON API's schemas of members' profiles."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from forum.boundary import ID_MAX
from forum.profiles.service import LIMIT_MAX
from forum.schemas.base import Moment, Request, Response
from forum.schemas.moderation import UserState


class ProfileQuery(Request):
    """Which page of a member's replies, newest first."""

    before: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=ID_MAX,
                description="next_cursor of the previous page; omitted: from the newest.",
                extra={"message": "before must be a reply id."},
            ),
        ]
        | None
    ) = None
    limit: Annotated[int, Meta(ge=1, le=LIMIT_MAX, description="Replies per page.")] | None = None


class ProfileReply(Response):
    """One of the member's replies, as the asker may read it."""

    id: int
    article: Annotated[str, Meta(description="The article's slug.")]
    article_title: str
    article_url: str
    url: Annotated[str, Meta(description="The reply's permalink.")]
    body_html: str
    excerpt: Annotated[str, Meta(description="The start of its text, on one line.")]
    created_at: Moment
    edited_at: Moment | None
    hidden: Annotated[
        bool, Meta(description="Hidden by a moderator (moderators and the author only).")
    ]
    score: int


class MemberProfile(UserState):
    """A member: role, suspension, when they joined, their avatar, and a page of the replies of
    theirs the asker may read (hidden ones only for moderators and the member), newest first."""

    joined: Moment
    reply_count: Annotated[int, Meta(description="Their replies the asker may read.")]
    avatar_url: str
    replies: list[ProfileReply]
    next_cursor: (
        Annotated[int, Meta(description="`before` of the next page; null on the last.")] | None
    )
