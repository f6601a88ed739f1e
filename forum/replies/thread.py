"""Reading a thread as a tree: one SQL statement per chunk, whatever the thread's size.

A page loads one chunk of replies, then a few levels under them: each level takes the first few
children of every reply of the level above at once (a window function ranks siblings), and every
reply comes with its author's name and its number of children. The ORM cannot say this in one
statement, and each statement costs a round trip (a thread hop on SQLite), so it is written by
hand; which rows a viewer may see still comes from forum.visibility.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import StrEnum

from forum.articles.service import article_or_404
from forum.boundary import ID_MAX, parse_whole
from forum.db import model_from_row, select_models
from forum.errors import NotFound
from forum.settings import Settings
from forum.urls import article_path, reply_path
from forum.validation import ValidationError
from forum.visibility import as_seen_by, shows_body, stub_of, thread_rows, thread_rows_sql
from models import Article, Reply, User

#: Most replies one request may ask for at once (the API's limit).
LIMIT_MAX = 100
#: What a bad order is told.
ORDER_MESSAGE = "order must be 'newest', 'oldest' or 'top'."
#: Columns the tree statement adds to each reply's own (see _tree_sql).
TREE_COLUMNS = ["tree_level", "sort_key", "author_username", "child_count"]
#: What one standing up-vote is worth in the "top" order, in seconds of youth (docs/ranking.md).
VOTE_SECONDS = 3600
#: A "top" cursor: the frozen moment (microseconds), then the last reply's rank and id.
_TOP_CURSOR = re.compile(r"^([0-9]{1,18})\.(-?[0-9]{1,18})\.([0-9]{1,18})$")


class Order(StrEnum):
    """Order of the top-level replies; children always read oldest first."""

    NEWEST = "newest"
    OLDEST = "oldest"
    #: Most up-voted first, weighed against age (docs/ranking.md).
    TOP = "top"


@dataclass(frozen=True)
class TopCursor:
    """Where a "top" chunk starts: after (rank, reply_id), ranks as they stood at moment_us.

    Ranks are computed from the votes standing at that moment (votes keep their history), so
    they cannot change between chunks however the votes change: no reply is shown twice or
    skipped while paging.
    """

    moment_us: int
    rank: int | None = None
    reply_id: int | None = None

    def __str__(self) -> str:
        return f"{self.moment_us}.{self.rank}.{self.reply_id}"


#: A position in a level of the thread: a reply id (newest, oldest) or a TopCursor.
Cursor = int | TopCursor


@dataclass
class ReplyNode:
    """A reply as one viewer sees it, with the part of its subtree loaded so far."""

    reply: Reply
    shows_body: bool
    child_count: int = 0
    children: list[ReplyNode] = field(default_factory=list)
    #: True when this reply's children are not loaded because the preview stops at this depth.
    at_preview_edge: bool = False
    #: Its rank in the "top" order at the chunk's moment (0 in other orders).
    rank: int = 0
    #: Whether the page's viewer up-voted it (set by mark_votes; false in live frames).
    voted: bool = False

    def __post_init__(self) -> None:
        # A node is what one viewer sees: a stub carries no text to render by mistake.
        if not self.shows_body:
            self.reply = stub_of(self.reply)

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
    next_cursor: int | TopCursor | None


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
    cursor: Cursor | None,
    limit: int,
    shape: TreeShape,
) -> ThreadChunk:
    """A chunk of replies to the article itself, each with a preview of the replies under it."""
    siblings = "r.article_id = ? AND r.parent_id IS NULL"
    if order is Order.TOP:
        top = cursor if isinstance(cursor, TopCursor) else TopCursor(time.time_ns() // 1000)
        return await _top_chunk(siblings, article.id, viewer, top, limit, shape)
    if isinstance(cursor, TopCursor):
        raise ValidationError({"cursor": "That cursor belongs to the top order."})
    newest = order is Order.NEWEST
    return await _siblings_chunk(siblings, article.id, viewer, cursor, newest, limit, shape)


async def children_chunk(
    parent: Reply,
    viewer: User | None,
    *,
    cursor: int | None,
    limit: int,
    shape: TreeShape,
) -> ThreadChunk:
    """A chunk of the replies to parent, oldest first, each with a preview under it."""
    return await _siblings_chunk("r.parent_id = ?", parent.id, viewer, cursor, False, limit, shape)


async def _siblings_chunk(
    siblings: str,
    key: int,
    viewer: User | None,
    cursor: int | None,
    newest_first: bool,
    limit: int,
    shape: TreeShape,
) -> ThreadChunk:
    """The chunk of the replies that siblings (an SQL condition on one key) selects, after
    cursor in the order asked for."""
    shown, params = thread_rows_sql(viewer, "r")
    after = ""
    if cursor is not None:
        after = f" AND r.id {'<' if newest_first else '>'} ?"
        params = [*params, cursor]
    roots = (
        f"SELECT r.id, 0 AS sort_key FROM replies r WHERE {siblings} AND {shown}{after}"
        f" ORDER BY r.id {'DESC' if newest_first else 'ASC'} LIMIT ?"
    )
    return await _chunk(roots, [key, *params, limit + 1], viewer, limit, shape, newest_first)


def _created_seconds(column: str) -> str:
    """SQL for a timestamp column in whole seconds since the epoch, in this database's dialect."""
    if Reply._meta.db.capabilities.dialect == "postgres":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def rank_sql(alias: str) -> str:
    """SQL for a reply's rank in the "top" order at a moment (two "?": the moment twice): its
    votes standing then, each worth VOTE_SECONDS, plus its creation time (docs/ranking.md)."""
    standing = (
        f"(SELECT COUNT(*) FROM reply_votes v WHERE v.reply_id = {alias}.id AND v.voted_us <= ?"
        " AND (v.retracted_us IS NULL OR v.retracted_us > ?))"
    )
    return f"({standing} * {VOTE_SECONDS} + {_created_seconds(f'{alias}.created_at')})"


async def _top_chunk(
    siblings: str,
    key: int,
    viewer: User | None,
    cursor: TopCursor,
    limit: int,
    shape: TreeShape,
) -> ThreadChunk:
    """A chunk of siblings by rank at the cursor's moment, highest first, ties by newer id;
    keyset on (rank, id), which cannot move while paging since the moment is frozen."""
    shown, params = thread_rows_sql(viewer, "r")
    after = ""
    after_params: list[object] = []
    if cursor.rank is not None and cursor.reply_id is not None:
        after = " WHERE sort_key < ? OR (sort_key = ? AND id < ?)"
        after_params = [cursor.rank, cursor.rank, cursor.reply_id]
    moment = [cursor.moment_us, cursor.moment_us]
    roots = (
        f"SELECT id, sort_key FROM (SELECT r.id, {rank_sql('r')} AS sort_key FROM replies r"
        f" WHERE {siblings} AND {shown}) ranked{after} ORDER BY sort_key DESC, id DESC LIMIT ?"
    )
    roots_params = [*moment, key, *params, *after_params, limit + 1]
    chunk = await _chunk(roots, roots_params, viewer, limit, shape, by_rank=True)
    if chunk.next_cursor is not None:
        last = chunk.nodes[-1]
        chunk.next_cursor = TopCursor(cursor.moment_us, last.rank, last.reply.id)
    return chunk


async def single_node(reply: Reply, viewer: User | None, shape: TreeShape) -> ReplyNode:
    """One reply with a preview of its subtree (for a permalink or a fresh post)."""
    roots = "SELECT r.id, 0 AS sort_key FROM replies r WHERE r.id = ?"
    chunk = await _chunk(roots, [reply.id], viewer, 1, shape)
    if not chunk.nodes:  # removed since the caller read it: show it as the caller has it
        await reply.fetch_related("author")  # the caller's row may not carry it
        return ReplyNode(reply, shows_body(reply, viewer))
    return chunk.nodes[0]


@dataclass
class Ancestors:
    """The nearest replies above one reply, root-most first, and how many more are above them."""

    nodes: list[ReplyNode]
    #: Replies above the first one shown.
    earlier: int = 0
    #: The parent of the first one shown, whose permalink shows the earlier ones (or None).
    earlier_id: int | None = None


async def ancestors(reply: Reply, viewer: User | None, limit: int) -> Ancestors:
    """At most limit replies above this one, the nearest ones, in one query: a page stays the
    same size however deep the chain it opens."""
    ids = [int(part) for part in reply.ancestry.split("/") if part]
    earlier = max(len(ids) - limit, 0)
    shown = ids[earlier:]
    if not shown:
        return Ancestors([])
    rows = await Reply.filter(thread_rows(viewer), id__in=shown).select_related("author")
    by_id = {row.id: row for row in rows}
    nodes = [ReplyNode(by_id[i], shows_body(by_id[i], viewer)) for i in shown if i in by_id]
    return Ancestors(nodes, earlier, ids[earlier - 1] if earlier else None)


async def replies_by_id(ids: set[int]) -> dict[int, Reply]:
    """These replies whatever their status (for whoever renders them for each kind of viewer),
    each with its author as far as a thread shows it, in one statement."""
    if not ids:
        return {}
    rows = await select_models(
        Reply,
        "SELECT r.*, u.username AS author_username FROM replies r"
        f" JOIN users u ON u.id = r.author_id WHERE r.id IN ({', '.join('?' * len(ids))})",
        list(ids),
        ["author_username"],
    )
    for row in rows:
        _attach_author(row)
    return {row.id: row for row in rows}


def _attach_author(row: Reply) -> None:
    """The author as far as a thread shows it (the name), from the statement that read row."""
    row.author = model_from_row(User, id=row.author_id, username=vars(row)["author_username"])


async def visible_reply(reply_id: int, viewer: User | None) -> Reply | None:
    """The one loader of a reply for a viewer: the reply whole, as a stub without its text
    (forum.visibility.as_seen_by), or None when the viewer may not see it at all; with its
    article and author. Every handler that loads a reply by id goes through here."""
    reply = (
        await Reply.filter(thread_rows(viewer), id=reply_id)
        .select_related("article", "author")
        .first()
    )
    return as_seen_by(reply, viewer) if reply is not None else None


def _tree_sql(
    roots: str, roots_params: list[object], viewer: User | None, shape: TreeShape
) -> tuple[str, list[object]]:
    """One statement for a chunk and its preview: the roots, then for each level the first
    children of every reply of the level above (a window function ranks siblings), then every
    reply's author and the number of its children the viewer may see."""
    levels = [f"level0 AS ({roots})"]
    params = list(roots_params)
    for level in range(1, shape.levels + 1):
        shown, shown_params = thread_rows_sql(viewer, "c")
        levels.append(
            f"level{level} AS (SELECT id FROM (SELECT c.id, ROW_NUMBER() OVER"
            " (PARTITION BY c.parent_id ORDER BY c.id) AS sibling_rank FROM replies c"
            f" WHERE c.parent_id IN (SELECT id FROM level{level - 1}) AND {shown}) ranked"
            " WHERE sibling_rank <= ?)"
        )
        params += [*shown_params, shape.children_preview]
    tree = " UNION ALL ".join(
        f"SELECT id, {level} AS tree_level, {'sort_key' if level == 0 else '0'} AS sort_key"
        f" FROM level{level}"
        for level in range(shape.levels + 1)
    )
    counted, counted_params = thread_rows_sql(viewer, "k")
    sql = (
        f"WITH {', '.join(levels)}, tree AS ({tree})"
        " SELECT r.*, tree.tree_level, tree.sort_key, u.username AS author_username,"
        f" (SELECT COUNT(*) FROM replies k WHERE k.parent_id = r.id AND {counted}) AS child_count"
        " FROM tree JOIN replies r ON r.id = tree.id JOIN users u ON u.id = r.author_id"
        " ORDER BY tree.tree_level, r.id"
    )
    return sql, [*params, *counted_params]


async def _chunk(
    roots: str,
    roots_params: list[object],
    viewer: User | None,
    limit: int,
    shape: TreeShape,
    newest_first: bool = False,
    *,
    by_rank: bool = False,
) -> ThreadChunk:
    """Load the replies roots selects (at most limit + 1, the extra one only to tell that more
    follow) with the preview under them, in one statement whatever the thread's size."""
    sql, params = _tree_sql(roots, roots_params, viewer, shape)
    rows = await select_models(Reply, sql, params, TREE_COLUMNS)
    nodes_by_id: dict[int, ReplyNode] = {}
    top: list[ReplyNode] = []
    for row in rows:
        extra = vars(row)
        _attach_author(row)
        level = extra["tree_level"]
        node = ReplyNode(row, shows_body(row, viewer), child_count=extra["child_count"])
        node.at_preview_edge = level == shape.levels
        node.rank = int(extra["sort_key"] or 0)
        nodes_by_id[row.id] = node
        if level == 0:
            top.append(node)
        else:
            assert row.parent_id is not None  # selected as a child
            nodes_by_id[row.parent_id].children.append(node)
    if newest_first:
        top.reverse()
    if by_rank:  # the statement reads roots by id; the chunk's order is the roots' own
        top.sort(key=lambda node: (node.rank, node.reply.id), reverse=True)
    has_more = len(top) > limit
    top = top[:limit]
    return ThreadChunk(top, top[-1].reply.id if has_more and top else None)


def parse_order(value: str | None) -> Order:
    """The requested order (newest by default), or ValidationError."""
    try:
        return Order(value or Order.NEWEST)
    except ValueError:
        raise ValidationError({"order": ORDER_MESSAGE}) from None


def parse_position(value: str | None, order: Order, name: str = "cursor") -> Cursor | None:
    """A top-level cursor from a query string: a TopCursor in the top order, else a reply id."""
    if order is not Order.TOP:
        return parse_cursor(value, name)
    if value is None or value == "":
        return None
    match = _TOP_CURSOR.match(value)
    if match is None:
        raise ValidationError({name: f"{name} is not a valid position in the thread."})
    moment, rank, reply_id = (int(part) for part in match.groups())
    return TopCursor(moment, rank, reply_id)


def parse_cursor(value: str | None, name: str = "cursor") -> int | None:
    """A cursor from a query string: the id of the last reply already shown (0: none yet)."""
    if value is None or value == "":
        return None
    position = parse_whole(value, 0, ID_MAX)
    if position is None:
        raise ValidationError({name: f"{name} is not a valid position in the thread."})
    return position or None


def tree_shape(settings: Settings) -> TreeShape:
    """How much of a thread one page loads, from the settings."""
    return TreeShape(children_preview=settings.children_preview, levels=settings.preview_depth - 1)


async def reply_in_article(slug: str, reply_id: int, viewer: User | None) -> tuple[Article, Reply]:
    """The article and one of its replies as viewer may see it (visible_reply), or NotFound."""
    article = await article_or_404(slug)
    reply = await visible_reply(reply_id, viewer)
    if reply is None or reply.article_id != article.id:
        raise NotFound("That reply does not exist (or is no longer visible).")
    return article, reply


def _shows(nodes: list[ReplyNode], reply_id: int) -> bool:
    """Whether these nodes, with the subtrees loaded under them, hold the reply."""
    return any(node.reply.id == reply_id or _shows(node.children, reply_id) for node in nodes)


async def landing_path(
    article: Article, reply: Reply, viewer: User, order: Order, page_size: int, shape: TreeShape
) -> str:
    """Where a reply posted without JavaScript is shown in its thread: the article page at the
    reply when that page (in the reader's order) shows it, else the permalink of its top-level
    reply when that shows it, else the reply's own permalink."""
    anchor = f"#reply-{reply.id}"
    first_page = await top_level_chunk(
        article, viewer, order=order, cursor=None, limit=page_size, shape=shape
    )
    if _shows(first_page.nodes, reply.id):
        query = "" if order is Order.NEWEST else f"?order={order.value}"
        return article_path(article.slug) + query + anchor
    top_id = int(reply.ancestry.split("/", 1)[0]) if reply.ancestry else None
    top = await visible_reply(top_id, viewer) if top_id is not None else None
    if top is not None and _shows([await single_node(top, viewer, shape)], reply.id):
        return reply_path(article.slug, top.id) + anchor
    return reply_path(article.slug, reply.id) + anchor
