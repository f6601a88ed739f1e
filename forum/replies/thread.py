"""Reading a thread as a tree: one SQL statement per chunk, whatever the thread's size.

A page loads one chunk of replies, then a few levels under them: each level takes the first few
children of every reply of the level above at once (a window function ranks siblings), and every
reply comes with its author's name and its number of children. The ORM cannot say this in one
statement, and each statement costs a round trip (a thread hop on SQLite), so it is written by
hand; which rows a viewer may see still comes from forum.visibility.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from forum.articles.service import article_or_404
from forum.db import model_from_row, select_models
from forum.errors import NotFound
from forum.replies.order import ORDER_MESSAGE as ORDER_MESSAGE
from forum.replies.order import VOTE_SECONDS as VOTE_SECONDS
from forum.replies.order import Cursor as Cursor
from forum.replies.order import Order as Order
from forum.replies.order import TopCursor as TopCursor
from forum.replies.order import parse_cursor as parse_cursor
from forum.replies.order import parse_order as parse_order
from forum.replies.order import parse_position as parse_position
from forum.replies.order import rank_sql as rank_sql
from forum.replies.pinned import PINNED_KEY, UNPINNED, with_pinned
from forum.replies.subthreads import (
    PARENT_COLUMNS,
    PARENT_JOIN,
    PARENT_SELECT,
    below_edge_ctes,
    parent_author,
)
from forum.settings import Settings
from forum.validation import ValidationError
from forum.visibility import as_seen_by, shows_body, stub_of, thread_rows, thread_rows_sql
from models import Article, Reply, User

#: Most replies one request may ask for at once (the API's limit).
LIMIT_MAX = 100
#: Columns the tree statement adds to each reply's own (see _tree_sql).
TREE_COLUMNS = ["tree_level", "sort_key", "author_username", "child_count", "descendant_count"]


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
    #: Whether the page's viewer muted its author: shown collapsed (set by mark_muted, and
    #: in the live frames rendered for muters).
    muted: bool = False
    #: All the replies below it the viewer may see (counted only at the preview's edge, where
    #: "continue this thread" stands for the whole subthread).
    descendant_count: int = 0
    #: Its parent's author, when the viewer may see who that is (for "replying to @name").
    parent_author: str | None = None
    #: Posted by someone else since the viewer's last visit (set by replies.visits.mark_new).
    is_new: bool = False

    @property
    def pinned(self) -> bool:
        """Whether a moderator pinned it to the top of the thread."""
        return self.reply.pinned_at is not None

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
    #: The thread's pinned replies (any depth), with the first top-level chunk only: shown
    #: before nodes in every order, and never among them (a pinned reply leaves its place).
    pinned: list[ReplyNode] = field(default_factory=list)


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
    passage: str | None = None,
) -> ThreadChunk:
    """A chunk of replies to the article itself, each with a preview of the replies under it;
    the first chunk also brings the thread's pinned replies (in the same statement). Only
    those about one passage (its anchor) when passage is given: then pins are not set apart."""
    siblings = "r.article_id = ? AND r.parent_id IS NULL"
    keys: list[object] = [article.id]
    pinned_of: int | None = None
    if passage is not None:
        siblings += " AND r.passage = ?"
        keys.append(passage)
    else:
        siblings += f" AND {UNPINNED}"
        pinned_of = article.id if cursor is None else None
    if order is Order.TOP:
        top = cursor if isinstance(cursor, TopCursor) else TopCursor(time.time_ns() // 1000)
        return await _top_chunk(siblings, keys, viewer, top, limit, shape, pinned_of)
    if isinstance(cursor, TopCursor):
        raise ValidationError({"cursor": "That cursor belongs to the top order."})
    newest = order is Order.NEWEST
    return await _siblings_chunk(siblings, keys, viewer, cursor, newest, limit, shape, pinned_of)


async def children_chunk(
    parent: Reply,
    viewer: User | None,
    *,
    cursor: int | None,
    limit: int,
    shape: TreeShape,
) -> ThreadChunk:
    """A chunk of the replies to parent, oldest first, each with a preview under it."""
    siblings = f"r.parent_id = ? AND {UNPINNED}"
    return await _siblings_chunk(siblings, [parent.id], viewer, cursor, False, limit, shape)


async def _siblings_chunk(
    siblings: str,
    keys: list[object],
    viewer: User | None,
    cursor: int | None,
    newest_first: bool,
    limit: int,
    shape: TreeShape,
    pinned_of: int | None = None,
) -> ThreadChunk:
    """The chunk of the replies that siblings (an SQL condition on its keys) selects, after
    cursor in the order asked for; with the pinned replies of article pinned_of, if given."""
    shown, params = thread_rows_sql(viewer, "r")
    after = ""
    if cursor is not None:
        after = f" AND r.id {'<' if newest_first else '>'} ?"
        params = [*params, cursor]
    roots = (
        f"SELECT r.id, 0 AS sort_key FROM replies r WHERE {siblings} AND {shown}{after}"
        f" ORDER BY r.id {'DESC' if newest_first else 'ASC'} LIMIT ?"
    )
    roots, roots_params = with_pinned(roots, [*keys, *params, limit + 1], pinned_of)
    return await _chunk(
        roots, roots_params, viewer, limit, shape, newest_first, pinned=pinned_of is not None
    )


async def _top_chunk(
    siblings: str,
    keys: list[object],
    viewer: User | None,
    cursor: TopCursor,
    limit: int,
    shape: TreeShape,
    pinned_of: int | None = None,
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
    roots_params = [*moment, *keys, *params, *after_params, limit + 1]
    roots, roots_params = with_pinned(roots, roots_params, pinned_of)
    pinned = pinned_of is not None
    chunk = await _chunk(roots, roots_params, viewer, limit, shape, by_rank=True, pinned=pinned)
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
        f"SELECT r.*, u.username AS author_username{PARENT_SELECT} FROM replies r"
        f" JOIN users u ON u.id = r.author_id{PARENT_JOIN}"
        f" WHERE r.id IN ({', '.join('?' * len(ids))})",
        list(ids),
        ["author_username", *PARENT_COLUMNS],
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
        roots_only = f" WHERE sort_key <> {PINNED_KEY}" if level == 1 else ""
        levels.append(
            f"level{level} AS (SELECT id FROM (SELECT c.id, ROW_NUMBER() OVER"
            " (PARTITION BY c.parent_id ORDER BY c.id) AS sibling_rank FROM replies c"
            f" WHERE c.parent_id IN (SELECT id FROM level{level - 1}{roots_only}) AND {shown}"
            " AND c.pinned_at IS NULL) ranked"
            " WHERE sibling_rank <= ?)"
        )
        params += [*shown_params, shape.children_preview]
    tree = " UNION ALL ".join(
        f"SELECT id, {level} AS tree_level, {'sort_key' if level == 0 else '0'} AS sort_key"
        f" FROM level{level}"
        for level in range(shape.levels + 1)
    )
    counted, counted_params = thread_rows_sql(viewer, "k")
    # "Continue this thread" counts the whole subthread below the preview's edge.
    below, below_params = below_edge_ctes(f"level{shape.levels}", viewer)
    if shape.levels == 0:  # one level at a time (the API): nothing stands for a subthread
        below, below_params = "below_count(root, replies) AS (SELECT 0, 0 WHERE 1 = 0)", []
    sql = (
        f"WITH RECURSIVE {', '.join(levels)}, tree AS ({tree}), {below}"
        " SELECT r.*, tree.tree_level, tree.sort_key, u.username AS author_username,"
        " (SELECT COUNT(*) FROM replies k WHERE k.parent_id = r.id AND k.pinned_at IS NULL"
        f" AND {counted}) AS child_count,"
        f" COALESCE(below_count.replies, 0) AS descendant_count{PARENT_SELECT}"
        " FROM tree JOIN replies r ON r.id = tree.id JOIN users u ON u.id = r.author_id"
        f"{PARENT_JOIN} LEFT JOIN below_count ON below_count.root = r.id"
        " ORDER BY tree.tree_level, r.id"
    )
    return sql, [*params, *below_params, *counted_params]


async def _chunk(
    roots: str,
    roots_params: list[object],
    viewer: User | None,
    limit: int,
    shape: TreeShape,
    newest_first: bool = False,
    *,
    by_rank: bool = False,
    pinned: bool = False,
) -> ThreadChunk:
    """Load the replies roots selects (at most limit + 1, the extra one only to tell that more
    follow) with the preview under them, in one statement whatever the thread's size; pinned
    when roots begin with the pinned replies (with_pinned), which are set apart."""
    sql, params = _tree_sql(roots, roots_params, viewer, shape)
    rows = await select_models(Reply, sql, params, [*TREE_COLUMNS, *PARENT_COLUMNS])
    nodes_by_id: dict[int, ReplyNode] = {}
    top: list[ReplyNode] = []
    for row in rows:
        extra = vars(row)
        _attach_author(row)
        level = extra["tree_level"]
        node = ReplyNode(row, shows_body(row, viewer), child_count=extra["child_count"])
        node.descendant_count = int(extra["descendant_count"] or 0)
        node.parent_author = parent_author(row, viewer)
        node.at_preview_edge = level == shape.levels
        node.rank = max(int(extra["sort_key"] or 0), 0)
        nodes_by_id[row.id] = node
        if level == 0:
            top.append(node)
        else:
            assert row.parent_id is not None  # selected as a child
            nodes_by_id[row.parent_id].children.append(node)
    # The chunk's own roots are never pinned (UNPINNED): pinned roots came with with_pinned.
    first = sorted(
        (node for node in top if pinned and node.pinned),
        key=lambda node: (node.reply.pinned_at, node.reply.id),
    )
    if first:
        top = [node for node in top if not node.pinned]
    if newest_first:
        top.reverse()
    if by_rank:  # the statement reads roots by id; the chunk's order is the roots' own
        top.sort(key=lambda node: (node.rank, node.reply.id), reverse=True)
    has_more = len(top) > limit
    top = top[:limit]
    return ThreadChunk(top, top[-1].reply.id if has_more and top else None, first)


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
