"""HTML pages for articles: the list and the article with its discussion."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from forum.accounts.identity import current_user
from forum.articles.service import get_article, list_articles
from forum.errors import NotFound
from forum.http import is_htmx, render
from forum.notifications.service import is_following
from forum.replies.thread import TreeShape, parse_cursor, parse_order, top_level_chunk
from models import Article


async def article_or_404(slug: str) -> Article:
    """The article with this slug, or NotFound."""
    article = await get_article(slug)
    if article is None:
        raise NotFound("There is no article at this address.")
    return article


def tree_shape(request: Request) -> TreeShape:
    """How much of a thread one page loads, from the settings."""
    settings = request.app.state.settings
    return TreeShape(children_preview=settings.children_preview, levels=settings.preview_depth - 1)


async def index(request: Request) -> Response:
    """The list of articles with their reply counts."""
    return await render(request, "index.html", {"articles": await list_articles()})


async def article_context(request: Request, article: Article) -> dict[str, Any]:
    """What the article page shows: the article, one chunk of its discussion, the reply count."""
    order = parse_order(request.query_params.get("order"))
    cursor = parse_cursor(request.query_params.get("cursor"))
    viewer = await current_user(request)
    chunk = await top_level_chunk(
        article,
        viewer,
        order=order,
        cursor=cursor,
        limit=request.app.state.settings.page_size,
        shape=tree_shape(request),
    )
    return {
        "article": article,
        "chunk": chunk,
        "order": order,
        "cursor": cursor,
        "follows": await is_following(viewer, article),
    }


async def article_page(request: Request) -> Response:
    """An article and its discussion; an htmx "load more" gets only the next chunk of replies."""
    article = await article_or_404(request.path_params["slug"])
    context = await article_context(request, article)
    if is_htmx(request) and context["cursor"] is not None:
        return await render(request, "_top_level_chunk.html", context)
    return await render(request, "article.html", context)
