"""JSON API for articles."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forum.articles.service import article_or_404, list_articles
from forum.urls import article_path, live_path
from models import Article


def article_json(request: Request, article: Article) -> dict[str, object]:
    """The public shape of an article in the API."""
    base = request.app.state.settings.base_url
    return {
        "slug": article.slug,
        "title": article.title,
        "subtitle": article.subtitle,
        "url": base + article_path(article.slug),
        "live_url": "ws" + base.removeprefix("http") + live_path(article.slug),
        "reply_count": article.reply_count,
    }


async def articles(request: Request) -> Response:
    """GET /api/articles: every article with its reply count."""
    return JSONResponse(
        {"articles": [article_json(request, article) for article in await list_articles()]}
    )


async def article(request: Request) -> Response:
    """GET /api/articles/{slug}: one article with its rendered body."""
    found = await article_or_404(request.path_params["slug"])
    return JSONResponse({**article_json(request, found), "body_html": found.body_html})
