"""Markdown to safe HTML: markdown-it-py with raw HTML off, then an nh3 allowlist."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_ALLOWED_TAGS = {
    "a",
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
_LINK_REL = "nofollow ugc noopener noreferrer"

_user_markdown = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(
    ["strikethrough", "table"]
)
_article_markdown = MarkdownIt("commonmark", {"html": False, "typographer": False})


def _clean(html: str) -> str:
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel=_LINK_REL,
    )


def render_reply(source: str) -> str:
    """Render a reader's Markdown to sanitised HTML (headings demoted, links marked ugc)."""
    html = _user_markdown.render(source)
    # A reply must not outrank the article's own headings.
    for level in range(1, 4):
        html = html.replace(f"<h{level}>", "<h4>").replace(f"</h{level}>", "</h4>")
    return _clean(html)


def render_article(source: str) -> str:
    """Render an article body shipped with the project (still sanitised: defence in depth)."""
    return _clean(_article_markdown.render(source))
