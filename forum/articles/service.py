"""Loading articles from files and reading them with their reply counts."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import nh3

from forum.db import lookup_models
from forum.errors import NotFound
from forum.markdown import render_article
from forum.urls import article_path
from models import Article

SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class ArticleFileError(ValueError):
    """An article file that cannot be imported; the message says why."""


@dataclass(frozen=True)
class ArticleFile:
    """An article as read from a Markdown file with front matter."""

    slug: str
    title: str
    subtitle: str
    body_markdown: str


def read_article_file(path: Path) -> ArticleFile:
    """Parse an article file: front matter (slug, title, subtitle) then the Markdown body."""
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ArticleFileError(f"{path}: cannot read it ({error})") from error
    title = str(post.get("title") or "").strip()
    slug = str(post.get("slug") or path.stem).strip()
    if not title or len(title) > 300:
        raise ArticleFileError(f"{path}: front matter needs a title of 1-300 characters")
    if not SLUG_PATTERN.fullmatch(slug) or len(slug) > 120:
        raise ArticleFileError(f"{path}: slug must be lower-case words joined by '-' (max 120)")
    if not post.content.strip():
        raise ArticleFileError(f"{path}: the article has no body")
    return ArticleFile(
        slug=slug,
        title=title,
        subtitle=str(post.get("subtitle") or "").strip()[:500],
        body_markdown=post.content.strip() + "\n",
    )


async def import_article(article_file: ArticleFile) -> tuple[Article, bool]:
    """Store an article unless its slug exists already; returns (article, created)."""
    return await Article.get_or_create(
        slug=article_file.slug,
        defaults={
            "title": article_file.title,
            "subtitle": article_file.subtitle,
            "body_markdown": article_file.body_markdown,
            "body_html": render_article(article_file.body_markdown),
        },
    )


async def load_seed_articles(seed_dir: Path) -> int:
    """Import every shipped article that is not in the database yet; returns how many were added."""
    added = 0
    # A handful of small files read once at start-up: blocking reads are fine here.
    for path in sorted(seed_dir.glob("*.md")):  # noqa: ASYNC240
        _, created = await import_article(read_article_file(path))
        added += created
    return added


async def list_articles() -> list[Article]:
    """Every article, newest first (each knows its reply count)."""
    return await Article.all().order_by("-created_at", "-id")


async def get_article(slug: str) -> Article | None:
    """The article with this slug, or None."""
    return await Article.get_or_none(slug=slug)


async def article_or_404(slug: str) -> Article:
    """The article with this slug, or NotFound."""
    article = await get_article(slug)
    if article is None:
        raise NotFound("There is no article at this address.")
    return article


#: The columns of an article a post reads: not its two bodies, which can be long and which a
#: post reads only when it quotes a passage (see with_bodies), nor its counters, which the
#: post's own statements move.
_TO_POST_IN = "SELECT id, slug, title, locked FROM articles WHERE slug = ?"


async def article_to_post_in(slug: str) -> Article:
    """The article with this slug as a post reads it (a partial Article, see _TO_POST_IN), or
    NotFound. One hand-written statement: the write path runs it for every reply."""
    found = await lookup_models(Article, _TO_POST_IN, [slug])
    if not found:
        raise NotFound("There is no article at this address.")
    return found[0]


async def with_bodies(article: Article) -> Article:
    """The article whole: itself, or read again when it was loaded without its bodies."""
    if not article._partial:
        return article
    return await Article.get(id=article.id)


#: Longest description a link preview is given (they cut around 160-200 characters anyway).
SUMMARY_CHARS = 200
_FIRST_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.DOTALL)


@dataclass(frozen=True)
class ShareCard:
    """What a link to the article shows where it is shared (meta, Open Graph, Twitter tags)."""

    title: str
    description: str
    url: str
    feed_url: str


def share_card(article: Article, base_url: str) -> ShareCard:
    """The article's card: its subtitle (else its first paragraph) and how many replies it has,
    with absolute addresses from BASE_URL."""
    summary = article.subtitle.strip()
    if not summary:
        first = _FIRST_PARAGRAPH.search(article.body_html)
        text = html.unescape(nh3.clean(first.group(1), tags=set())) if first else ""
        summary = " ".join(text.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    count = article.reply_count
    replies = f"{count} {'reply' if count == 1 else 'replies'}"
    path = article_path(article.slug)
    return ShareCard(
        title=article.title,
        description=f"{summary} — {replies}" if summary else replies.capitalize(),
        url=base_url + path,
        feed_url=f"{base_url}{path}/feed.atom",
    )
