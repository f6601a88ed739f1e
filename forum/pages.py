"""What the pages that combine features show: the article page is the article, a chunk of
its discussion and the reader's follow state. Handlers of any feature may render it (the reply
form sends a reader back to it with an error), so it lives here rather than in one feature's
web module."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from forum.accounts.identity import current_user
from forum.articles.service import share_card
from forum.notifications.service import is_following
from forum.replies.thread import (
    parse_order,
    parse_position,
    reply_in_article,
    top_level_chunk,
    tree_shape,
)
from forum.replies.votes import mark_votes
from models import Article, Reply


async def article_context(request: Request, article: Article) -> dict[str, Any]:
    """What the article page shows: the article, one chunk of its discussion, the reply count."""
    order = parse_order(request.query_params.get("order"))
    cursor = parse_position(request.query_params.get("cursor"), order)
    viewer = await current_user(request)
    chunk = await top_level_chunk(
        article,
        viewer,
        order=order,
        cursor=cursor,
        limit=request.app.state.settings.page_size,
        shape=tree_shape(request.app.state.settings),
    )
    await mark_votes([*chunk.pinned, *chunk.nodes], viewer)
    return {
        "article": article,
        "chunk": chunk,
        "order": order,
        "cursor": cursor,
        "follows": await is_following(viewer, article),
        "share": share_card(article, request.app.state.settings.base_url),
    }


async def reply_from_path(request: Request) -> tuple[Article, Reply]:
    """The article and reply a path names (/a/{slug}/r/{reply_id}), as the viewer may see the
    reply; NotFound otherwise."""
    return await reply_in_article(
        request.path_params["slug"], request.path_params["reply_id"], await current_user(request)
    )
