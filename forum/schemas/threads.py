"""The JSON API's schemas of articles and replies (and votes)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from forum.boundary import ID_MAX
from forum.replies.service import BODY_MAX
from forum.replies.thread import LIMIT_MAX, ORDER_MESSAGE, Order
from forum.schemas.base import Moment, Request, Response

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
                # Empty, like omitted, means from the start (as the page's own links send it).
                pattern=r"^([0-9]{1,18}(\.-?[0-9]{1,18}\.[0-9]{1,18})?)?$",
                description="next_cursor of the previous chunk, as it was given; empty or"
                " omitted: from the start.",
                extra={"message": "cursor is not a valid position in the thread."},
            ),
        ]
        | None
    ) = None
    passage: (
        Annotated[
            str,
            Meta(
                max_length=40,
                description="Only the replies to the article about this passage (its anchor,"
                " the id of its element in the article); an unknown anchor is refused.",
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
    passage: (
        Annotated[
            str,
            Meta(
                max_length=40,
                title="passage",
                description="Anchor of the article's passage the reply is about (a reply to"
                " the article only; docs/passages.md).",
            ),
        ]
        | None
    ) = None
    quote: (
        Annotated[
            str,
            Meta(
                max_length=BODY_MAX,
                title="quote",
                description="Words of that passage, as written (whitespace may differ).",
            ),
        ]
        | None
    ) = None


class ReplyEdit(Request):
    """New text for one's own reply."""

    body: Annotated[str, Meta(title="Reply", min_length=1, max_length=BODY_MAX)]


class PreviewIn(Request):
    """A reply's text, to see as the forum will render it (nothing is posted)."""

    body: Annotated[
        str,
        Meta(
            title="Reply",
            min_length=1,
            max_length=BODY_MAX,
            description="Markdown; raw HTML is not rendered.",
        ),
    ]


class PreviewOut(Response):
    """The text rendered and sanitised exactly as a posted reply's body_html would be."""

    html: str


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
    #: Anchor of the article's passage it is about, and the words it quotes (none for a stub).
    passage: str | None = None
    quote: str | None = None
    #: Pinned by a moderator: listed first, before the first chunk, in every order.
    pinned: bool = False


class ReplyChunk(Response):
    """A chunk of one level of the thread."""

    replies: list[ReplyOut]
    next_cursor: str | None


class VoteOut(Response):
    """A reply's score after a vote, and whether the asker's vote stands."""

    score: int
    voted: bool


class ReplyVersion(Response):
    """One text of a reply."""

    version: int
    #: Markdown as written.
    body: str
    body_html: str
    #: When this text was written (for version 1, when the reply was posted).
    edited_at: Moment
    #: The text the reply shows now (the last version).
    current: bool


class ReplyRevisions(Response):
    """Every text of a reply, oldest first, the current one last."""

    reply_id: int
    versions: list[ReplyVersion]
