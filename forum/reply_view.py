"""A reply's main block (byline, text, votes, actions) rendered as a pure function of what it
shows, and remembered.

Every reader who loads a thread gets the same blocks for the same replies, and most of a
thread page's work was rendering them again. So the `reply_main_view` macro reads nothing but a
ReplyMainView, a named tuple of every value the block shows, the texts that depend on the time
included as they read now ("5 minutes ago", the minutes left to edit). Equal views are the same
HTML by construction, so the HTML is memoised on the view: an edit, a vote, a hide, a pin, another
viewer's flags or a minute passing make another view, never a stale block.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple, Protocol

from jinja2 import Environment
from markupsafe import Markup

from forum.times import minutes_left, time_ago
from models import Article, Reply, ReplyStatus

#: Blocks kept per process: a few pages of the busiest threads (each 1–3 KB).
REMEMBERED_BLOCKS = 4096


class ReplyNode(Protocol):
    """A reply as one viewer sees it (forum.replies.thread.ReplyNode), as far as its view reads."""

    reply: Reply
    shows_body: bool
    voted: bool
    muted: bool
    is_new: bool

    @property
    def pinned(self) -> bool:
        """Whether a moderator pinned it."""


class Author(NamedTuple):
    """Who wrote it, as the byline macro reads it."""

    username: str


class ReplyMainView(NamedTuple):
    """Everything the reply_main_view macro shows, and nothing else."""

    id: int
    slug: str
    shows_body: bool
    author: Author
    created_at: datetime
    #: "5 minutes ago", as it reads now.
    ago: str
    edited_at: datetime | None
    status: ReplyStatus
    hidden_reason: str | None
    hidden_note: str | None
    passage: str | None
    quote: str | None
    html: str
    score: int
    pinned: bool
    #: The viewer's own up-vote (false in live frames, which are the same for everyone).
    voted: bool
    #: By a member the viewer muted: folded.
    muted: bool
    #: New since the viewer's last visit.
    is_new: bool
    #: While the edit window is open: when it closes, and the minutes left as they read now.
    edit_until: datetime | None
    edit_minutes_left: int | None


def view_of(node: ReplyNode, article: Article, edit_window: timedelta) -> ReplyMainView:
    """What the node's main block shows, as of now."""
    reply = node.reply
    now = datetime.now(UTC)
    edit_until = reply.created_at + edit_window if reply.status == ReplyStatus.VISIBLE else None
    if edit_until is not None and edit_until <= now:
        edit_until = None
    return ReplyMainView(
        id=reply.id,
        slug=article.slug,
        shows_body=node.shows_body,
        author=Author(reply.author.username),
        created_at=reply.created_at,
        ago=time_ago(reply.created_at, now),
        edited_at=reply.edited_at,
        status=reply.status,
        hidden_reason=reply.hidden_reason.value if reply.hidden_reason else None,
        hidden_note=reply.hidden_note,
        passage=reply.passage,
        quote=reply.quote,
        html=reply.html,
        score=reply.score,
        pinned=node.pinned,
        voted=node.voted,
        muted=node.muted,
        is_new=node.is_new,
        edit_until=edit_until,
        edit_minutes_left=minutes_left(edit_until, now) if edit_until else None,
    )


def main_block_renderer(
    env: Environment, edit_window_seconds: int
) -> tuple[Callable[[ReplyNode, Article], Markup], Callable[[ReplyNode, Article], ReplyMainView]]:
    """For templates: (the node's main block as HTML, remembered; the node's view)."""
    edit_window = timedelta(seconds=edit_window_seconds)

    @lru_cache(maxsize=REMEMBERED_BLOCKS)
    def render(view: ReplyMainView) -> Markup:
        # Looked up on each miss, so that a template changed in development is used at once.
        macro = env.get_template("_reply.html").module.reply_main_view  # type: ignore[attr-defined]
        return Markup(macro(view))

    def main_block(node: ReplyNode, article: Article) -> Markup:
        return render(view_of(node, article, edit_window))

    def view(node: ReplyNode, article: Article) -> ReplyMainView:
        return view_of(node, article, edit_window)

    return main_block, view
