"""Reading a thread as a tree, a bounded number of queries per page whatever the thread's size.

A page loads one chunk of replies, then a few levels under them: each level is one query that takes
the first few children of every parent at once (a window function), then one query counts all
children and one fetches all authors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tortoise.expressions import RawSQL
from tortoise.functions import Count

from forum.validation import ValidationError
from forum.visibility import shows_body, thread_rows
from models import Article, Reply, User


class Order(StrEnum):
    """Order of the top-level replies; children always read oldest first."""

    NEWEST = "newest"
    OLDEST = "oldest"


@dataclass
class ReplyNode:
    """A reply as one viewer sees it, with the part of its subtree loaded so far."""

    reply: Reply
    shows_body: bool
    child_count: int = 0
    children: list[ReplyNode] = field(default_factory=list)
    #: True when this reply's children are not loaded because the preview stops at this depth.
    at_preview_edge: bool = False

    @property
    def more_children(self) -> int:
        """Children that exist but are not loaded yet."""
        return max(self.child_count - len(self.children), 0)

    @property
    def children_cursor(self) -> int | None:
        """Where the next chunk of children starts (after the last loaded child)."""
        return self.children[-1].reply.id if self.children else None


@dataclass
class ThreadChunk:
    """One chunk of sibling replies and the cursor of the chunk after it (None at the end)."""

    nodes: list[ReplyNode]
    next_cursor: int | None


@dataclass(frozen=True)
class TreeShape:
    """How much of the tree one request loads."""

    children_preview: int = 3
    levels: int = 2


async def top_level_chunk(
    article: Article,
    viewer: User | None,
    *,
    order: Order,
    cursor: int | None,
    limit: int,
    shape: TreeShape,
) -> ThreadChunk:
    """A chunk of replies to the article itself, each with a preview of the replies under it."""
    query = Reply.filter(thread_rows(viewer), article_id=article.id, parent_id=None)
    if order is Order.NEWEST:
        query = query.order_by("-id")
        if cursor is not None:
            query = query.filter(id__lt=cursor)
    else:
        query = query.order_by("id")
        if cursor is not None:
            query = query.filter(id__gt=cursor)
    return await _chunk(await query.limit(limit + 1), viewer, limit, shape)


async def children_chunk(
    parent: Reply,
    viewer: User | None,
    *,
    cursor: int | None,
    limit: int,
    shape: TreeShape,
) -> ThreadChunk:
    """A chunk of the replies to parent, oldest first, each with a preview under it."""
    query = Reply.filter(thread_rows(viewer), parent_id=parent.id).order_by("id")
    if cursor is not None:
        query = query.filter(id__gt=cursor)
    return await _chunk(await query.limit(limit + 1), viewer, limit, shape)


async def single_node(reply: Reply, viewer: User | None, shape: TreeShape) -> ReplyNode:
    """One reply with a preview of its subtree (for a permalink or a fresh post)."""
    chunk = await _chunk([reply], viewer, 1, shape)
    return chunk.nodes[0]


async def ancestors(reply: Reply, viewer: User | None) -> list[ReplyNode]:
    """The replies above this one, root first, in one query."""
    ids = [int(part) for part in reply.ancestry.split("/") if part]
    if not ids:
        return []
    rows = await Reply.filter(thread_rows(viewer), id__in=ids).select_related("author")
    by_id = {row.id: row for row in rows}
    return [ReplyNode(by_id[i], shows_body(by_id[i], viewer)) for i in ids if i in by_id]


async def visible_reply(reply_id: int, viewer: User | None) -> Reply | None:
    """A reply the viewer may see in the thread, with its article and author, or None."""
    return (
        await Reply.filter(thread_rows(viewer), id=reply_id)
        .select_related("article", "author")
        .first()
    )


async def _chunk(
    rows: list[Reply], viewer: User | None, limit: int, shape: TreeShape
) -> ThreadChunk:
    has_more = len(rows) > limit
    rows = rows[:limit]
    nodes = [ReplyNode(row, shows_body(row, viewer)) for row in rows]
    everything = list(nodes)
    frontier = nodes
    for _ in range(shape.levels):
        if not frontier:
            break
        frontier = await _attach_first_children(frontier, viewer, shape.children_preview)
        everything.extend(frontier)
    for node in frontier:
        node.at_preview_edge = True
    await _attach_child_counts(everything, viewer)
    await Reply.fetch_for_list([node.reply for node in everything], "author")
    return ThreadChunk(nodes, rows[-1].id if has_more and rows else None)


async def _attach_first_children(
    parents: list[ReplyNode], viewer: User | None, per_parent: int
) -> list[ReplyNode]:
    """Load the first per_parent children of every parent in one query; returns them all."""
    by_id = {node.reply.id: node for node in parents}
    ranked = (
        Reply.filter(thread_rows(viewer), parent_id__in=list(by_id))
        .annotate(sibling_rank=RawSQL('ROW_NUMBER() OVER (PARTITION BY "parent_id" ORDER BY "id")'))
        .values("id", "sibling_rank")
    )
    # A window's result cannot be filtered in the SELECT that computes it: wrap the ORM's query
    # (with its parameters) in one that keeps the first few of each parent. Tortoise has no
    # public way to get a query's parameters, hence its query builder directly.
    ranked._choose_db_if_not_chosen()
    ranked._make_query()
    inner_sql, values = ranked.query.get_parameterized_sql()
    outer_sql = (
        "SELECT * FROM replies WHERE id IN (SELECT id FROM"
        f" ({inner_sql}) AS ranked WHERE sibling_rank <= {int(per_parent)}) ORDER BY id"
    )
    # As Model.raw() does, but with the parameters.
    executor = ranked._db.executor_class(model=Reply, db=ranked._db)
    children: list[Reply] = await executor.execute_select(outer_sql, values)
    found: list[ReplyNode] = []
    for child in children:
        node = ReplyNode(child, shows_body(child, viewer))
        assert child.parent_id is not None  # selected by parent_id IN (...)
        by_id[child.parent_id].children.append(node)
        found.append(node)
    return found


async def _attach_child_counts(nodes: list[ReplyNode], viewer: User | None) -> None:
    if not nodes:
        return
    by_id = {node.reply.id: node for node in nodes}
    rows = (
        await Reply.filter(thread_rows(viewer), parent_id__in=list(by_id))
        .group_by("parent_id")
        .annotate(total=Count("id"))
        .values("parent_id", "total")
    )
    for row in rows:
        by_id[row["parent_id"]].child_count = row["total"]


def parse_order(value: str | None) -> Order:
    """The requested order (newest by default), or ValidationError."""
    try:
        return Order(value or Order.NEWEST)
    except ValueError:
        raise ValidationError({"order": "order must be 'newest' or 'oldest'."}) from None


def parse_cursor(value: str | None, name: str = "cursor") -> int | None:
    """A cursor from a query string: the id of the last reply already shown."""
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 10:
        raise ValidationError({name: f"{name} is not a valid position in the thread."})
    return int(value) or None
