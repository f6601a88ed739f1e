"""What the pages that combine features show: the article page is the article, a chunk of
its discussion and the reader's follow state. Handlers of any feature may render it (the reply
form sends a reader back to it with an error), so it lives here rather than in one feature's
web module."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from forum.accounts.identity import current_user
from forum.articles.passages import article_passages, find_passage
from forum.articles.service import share_card
from forum.http import is_htmx
from forum.notifications.service import is_following
from forum.replies.muted import mark_muted
from forum.replies.passages import passage_counts
from forum.replies.thread import (
    parse_order,
    parse_position,
    reply_in_article,
    top_level_chunk,
    tree_shape,
)
from forum.replies.visits import mark_new, new_since, shows, visit_thread
from forum.replies.votes import mark_votes
from models import Article, Reply


async def article_context(request: Request, article: Article) -> dict[str, Any]:
    """What the article page shows: the article with its passages and how many replies are about
    each, one chunk of its discussion (about one passage with ?passage=), the reply count."""
    order = parse_order(request.query_params.get("order"))
    cursor = parse_position(request.query_params.get("cursor"), order)
    asked = request.query_params.get("passage")
    passage = find_passage(article, asked) if asked else None
    viewer = await current_user(request)
    chunk = await top_level_chunk(
        article,
        viewer,
        order=order,
        cursor=cursor,
        limit=request.app.state.settings.page_size,
        shape=tree_shape(request.app.state.settings),
        passage=passage.anchor if passage else None,
    )
    await mark_votes([*chunk.pinned, *chunk.nodes], viewer)
    await mark_muted([*chunk.pinned, *chunk.nodes], viewer)
    # The page served whole is a load of the thread (replies.visits); its later chunks are not.
    served = request.method == "GET" and cursor is None and not is_htmx(request)
    since = await visit_thread(viewer, article, served=served)
    mark_new([*chunk.pinned, *chunk.nodes], viewer, since)
    fresh = await new_since(article, viewer, since)
    return {
        "new_since": fresh,
        "first_new_on_page": shows(chunk.nodes, fresh.first_id),
        "article": article,
        "passages": article_passages(article),
        "passage_counts": await passage_counts(article.id),
        "passage": passage,
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
