"""The site's public URL patterns, in one place for pages, redirects and the API."""

from __future__ import annotations


def article_path(slug: str) -> str:
    """Where an article and its discussion live."""
    return f"/a/{slug}"


def reply_path(slug: str, reply_id: int) -> str:
    """A reply's permalink: the thread opened at that reply."""
    return f"/a/{slug}/r/{reply_id}"


def reply_permalink(slug: str, reply_id: int) -> str:
    """The permalink with the fragment that scrolls to and highlights the reply."""
    return f"{reply_path(slug, reply_id)}#reply-{reply_id}"


def live_path(slug: str) -> str:
    """The WebSocket that carries an article's thread live."""
    return f"/a/{slug}/live"
