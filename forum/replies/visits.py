"""What is new to a member since their last visit to a thread.

Each time a member is served a thread's page whole (not a later chunk of it), a new visit
begins: the visit under way becomes the previous one. Replies posted by others after the
previous visit began are new, on every page and chunk of this visit, in every order; a reload
starts a visit of its own, so marks do not pile up. The first visit marks nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count, Min

from forum.replies.thread import ReplyNode
from forum.visibility import readable_rows
from models import Article, Reply, ThreadVisit, User


@dataclass(frozen=True)
class NewSince:
    """The replies new to a reader: how many, and the first of them (the oldest)."""

    count: int
    first_id: int | None


async def visit_thread(viewer: User | None, article: Article, *, begins: bool) -> datetime | None:
    """When the viewer's previous visit to this thread began (None: signed out, or never
    visited before); begins says whether this request starts a new visit (a whole page)."""
    if viewer is None:
        return None
    visit = await ThreadVisit.get_or_none(user_id=viewer.id, article_id=article.id)
    if not begins:
        return visit.previous_seen_at if visit is not None else None
    now = datetime.now(UTC)
    if visit is None:
        # IntegrityError: the same reader's other tab began it at the same moment.
        with contextlib.suppress(IntegrityError):
            await ThreadVisit.create(user_id=viewer.id, article_id=article.id, seen_at=now)
        return None
    await ThreadVisit.filter(id=visit.id).update(previous_seen_at=visit.seen_at, seen_at=now)
    return visit.seen_at


async def new_since(article: Article, viewer: User | None, since: datetime | None) -> NewSince:
    """The replies others posted in this thread after since that viewer may read (hidden ones
    count for moderators only), in one query."""
    if viewer is None or since is None:
        return NewSince(0, None)
    row = (
        await Reply.filter(readable_rows(viewer), article_id=article.id, created_at__gt=since)
        .exclude(author_id=viewer.id)
        .annotate(new=Count("id"), first=Min("id"))
        .group_by("article_id")
        .values("new", "first")
    )
    if not row:
        return NewSince(0, None)
    return NewSince(int(row[0]["new"]), row[0]["first"])


def mark_new(nodes: Iterable[ReplyNode], viewer: User | None, since: datetime | None) -> None:
    """Set node.is_new on these nodes and those under them: what others posted after since,
    among the replies viewer sees whole."""
    if viewer is None or since is None:
        return
    for node in _walk(nodes):
        reply = node.reply
        node.is_new = node.shows_body and reply.author_id != viewer.id and reply.created_at > since


def shows(nodes: Iterable[ReplyNode], reply_id: int | None) -> bool:
    """Whether this reply is among these nodes or those under them (loaded on the page)."""
    return reply_id is not None and any(node.reply.id == reply_id for node in _walk(nodes))


def _walk(nodes: Iterable[ReplyNode]) -> Iterator[ReplyNode]:
    for node in nodes:
        yield node
        yield from _walk(node.children)
