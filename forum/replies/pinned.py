"""Where pinned replies sit in the statement that reads a thread: before the first chunk of
top-level replies, out of their places everywhere else (docs/ranking.md, "Pins")."""

from __future__ import annotations

from tortoise.functions import Count

from forum.visibility import thread_rows
from models import Reply, ReplyStatus, User

#: SQL: the reply (alias r) is in its place in the tree, not moved to the pinned ones.
UNPINNED = "r.pinned_at IS NULL"
#: The sort key of the pinned roots (ranks are positive): shown without the preview under them,
#: a "show replies" link instead, so that pins add a few replies to a page, not a few subtrees.
PINNED_KEY = -1


def with_pinned(
    roots: str, params: list[object], article_id: int | None
) -> tuple[str, list[object]]:
    """roots, preceded by the article's pinned replies when article_id is given: one statement
    still reads the first chunk. Only visible replies stay pinned (hiding or deleting one
    unpins it); the status is checked here too, so that a stray pin shows nothing hidden."""
    if article_id is None:
        return roots, params
    # sort_key -1 marks them: the tree statement loads no preview under them (PINNED_KEY).
    pinned = (
        f"SELECT r.id, {PINNED_KEY} AS sort_key FROM replies r WHERE r.article_id = ?"
        " AND r.pinned_at IS NOT NULL AND r.status = ?"
    )
    union = (
        f"SELECT id, sort_key FROM ({pinned}) pinned"
        f" UNION ALL SELECT id, sort_key FROM ({roots}) chunk"
    )
    return union, [article_id, ReplyStatus.VISIBLE.value, *params]


async def child_counts(ids: set[int], viewer: User | None) -> dict[int, int]:
    """How many replies in their places (not pinned) viewer may see under each of these, for
    a reply rendered again on its own (moved to or from the pinned ones), in one query."""
    if not ids:
        return {}
    rows = (
        await Reply.filter(thread_rows(viewer), parent_id__in=ids, pinned_at__isnull=True)
        .group_by("parent_id")
        .annotate(count=Count("id"))
        .values("parent_id", "count")
    )
    return {int(row["parent_id"]): int(row["count"]) for row in rows}
