"""Where a reply posted without JavaScript is shown: back in its thread, at the reply."""

from __future__ import annotations

from forum.replies.order import Order
from forum.replies.thread import ReplyNode, TreeShape, single_node, top_level_chunk, visible_reply
from forum.urls import article_path, reply_path
from models import Article, Reply, User


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
