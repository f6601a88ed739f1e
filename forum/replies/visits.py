"""What is new to a member since their last visit to a thread.

A visit is a run of page loads of the thread with no pause longer than VISIT_GAP. Replies
others posted after the last load of the previous visit are new: marked on every page and
chunk of this visit, in every order (switching orders or paging keeps them), until the reader
comes back after another pause. The first visit marks nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count, Min

from forum.replies.thread import ReplyNode
from forum.visibility import readable_rows
from models import Article, Reply, ThreadVisit, User

#: A pause this long between two loads of a thread ends a visit.
VISIT_GAP = timedelta(minutes=30)


@dataclass(frozen=True)
class NewSince:
    """The replies new to a reader: how many, and the first of them (the oldest)."""

    count: int
    first_id: int | None


async def visit_thread(viewer: User | None, article: Article, *, served: bool) -> datetime | None:
    """When the viewer's previous visit to this thread ended (None: signed out, or no visit
    before this one). served says that this request shows the thread's page whole: it counts
    as a load of the thread (a later chunk of the page does not)."""
    if viewer is None:
        return None
    visit = await ThreadVisit.get_or_none(user_id=viewer.id, article_id=article.id)
    if not served:
        return visit.previous_seen_at if visit is not None else None
    now = datetime.now(UTC)
    if visit is None:
        # IntegrityError: the same reader's other tab began it at the same moment.
        with contextlib.suppress(IntegrityError):
            await ThreadVisit.create(user_id=viewer.id, article_id=article.id, seen_at=now)
        return None
    previous = visit.previous_seen_at
    if now - visit.seen_at > VISIT_GAP:
        previous = visit.seen_at  # back after a pause: a new visit begins
    await ThreadVisit.filter(id=visit.id).update(previous_seen_at=previous, seen_at=now)
    return previous


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
