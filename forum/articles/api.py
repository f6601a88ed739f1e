"""JSON API for articles."""

from __future__ import annotations

from msgspec.structs import asdict
from starlette.requests import Request
from starlette.responses import Response

from forum.articles.service import article_or_404, list_articles
from forum.contracts import api, respond
from forum.schemas import ArticleList, ArticleOut, ArticleWithBody
from forum.urls import article_path, live_path
from models import Article


def _article(request: Request, article: Article) -> ArticleOut:
    base = request.app.state.settings.base_url
    return ArticleOut(
        slug=article.slug,
        title=article.title,
        subtitle=article.subtitle,
        url=base + article_path(article.slug),
        live_url="ws" + base.removeprefix("http") + live_path(article.slug),
        reply_count=article.reply_count,
    )


@api("List articles", response=ArticleList)
async def articles(request: Request) -> Response:
    """GET /api/articles: every article with its reply count."""
    found = await list_articles()
    return respond(ArticleList([_article(request, article) for article in found]))


@api("One article with its rendered body", response=ArticleWithBody)
async def article(request: Request) -> Response:
    """GET /api/articles/{slug}: one article with its rendered body."""
    found = await article_or_404(request.path_params["slug"])
    return respond(ArticleWithBody(**asdict(_article(request, found)), body_html=found.body_html))
