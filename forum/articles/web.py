"""HTML pages for articles: the list and the article with its discussion."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forum.articles.service import article_or_404, list_articles
from forum.http import is_htmx, render
from forum.pages import article_context


async def index(request: Request) -> Response:
    """The list of articles with their reply counts."""
    return await render(request, "index.html", {"articles": await list_articles()})


async def article_page(request: Request) -> Response:
    """An article and its discussion; an htmx "load more" gets only the next chunk of replies."""
    article = await article_or_404(request.path_params["slug"])
    context = await article_context(request, article)
    if is_htmx(request) and context["cursor"] is not None:
        nodes = context["chunk"].nodes
        # Focus moves to the first reply loaded, not to the page (the link is gone).
        focus = {"X-Focus": f"reply-{nodes[0].reply.id}"} if nodes else None
        return await render(request, "_top_level_chunk.html", context, headers=focus)
    return await render(request, "article.html", context)
