"""Markdown to safe HTML: markdown-it-py with raw HTML off, then an nh3 allowlist.

A reply's images never point at another site: each becomes a link, or an image served by the
forum's own proxy, as the ImagePolicy passed in says (forum/images).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from forum.images.policy import LINK_IMAGES, PROXY, ImagePolicy

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

#: Where a reply's image may come from once its HTML is cleaned: the proxy, nowhere else.
_PROXY_PATH = "/img/"


def _render_image(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: MutableMapping[str, Any],
) -> str:
    """A reply's image: through the proxy, or as a link "image: alt" (the policy decides)."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    policy: ImagePolicy = env.get("images", LINK_IMAGES)
    proxied = policy.proxied(src)
    if proxied is not None:
        title = token.attrGet("title")
        title_attribute = f' title="{escapeHtml(str(title))}"' if title else ""
        return f'<img src="{escapeHtml(proxied)}" alt="{escapeHtml(alt)}"{title_attribute}>'
    label = escapeHtml(f"image: {alt or src}")
    if _inside_link(tokens, idx):
        return label  # the link around it already leads somewhere; links do not nest
    return f'<a href="{escapeHtml(src)}">{label}</a>'


def _inside_link(tokens: Sequence[Token], idx: int) -> bool:
    depth = 0
    for token in tokens[:idx]:
        depth += {"link_open": 1, "link_close": -1}.get(token.type, 0)
    return depth > 0


_user_markdown = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(
    ["strikethrough", "table"]
)
_user_markdown.add_render_rule("image", _render_image)
_article_markdown = MarkdownIt("commonmark", {"html": False, "typographer": False})


def _only_proxied_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.startswith(_PROXY_PATH):
        return None
    return value


#: Elements of an article that are passages a reply may be about (forum.articles.passages):
#: only there may an article's HTML carry an id, their anchor.
PASSAGE_TAGS = ("p", "li", "h1", "h2", "h3", "h4", "h5", "h6")
_ARTICLE_ATTRIBUTES = {
    tag: _ALLOWED_ATTRIBUTES.get(tag, set()) | ({"id"} if tag in PASSAGE_TAGS else set())
    for tag in _ALLOWED_TAGS
}


def _clean(
    html: str,
    *,
    images: bool = True,
    proxied_images_only: bool = False,
    attributes: dict[str, set[str]] = _ALLOWED_ATTRIBUTES,
) -> str:
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS if images else _ALLOWED_TAGS - {"img"},
        attributes=attributes,
        url_schemes={"http", "https", "mailto"},
        link_rel=_LINK_REL,
        attribute_filter=_only_proxied_images if proxied_images_only else None,
    )


def render_reply(source: str, images: ImagePolicy = LINK_IMAGES) -> str:
    """Render a reader's Markdown to sanitised HTML (headings demoted, links marked ugc, images
    as links or through the forum's proxy, as `images` says)."""
    html = _user_markdown.render(source, {"images": images})
    # A reply must not outrank the article's own headings.
    for level in range(1, 4):
        html = html.replace(f"<h{level}>", "<h4>").replace(f"</h{level}>", "</h4>")
    # Belt and braces: whatever the renderer made, no <img> may point anywhere but the proxy.
    proxy = images.mode == PROXY
    return _clean(html, images=proxy, proxied_images_only=proxy)


def render_article(source: str) -> str:
    """Render an article body shipped with the project (still sanitised: defence in depth)."""
    return _clean(_article_markdown.render(source))


def parse_article(source: str) -> list[Token]:
    """An article body's Markdown as markdown-it's block tokens (to find its passages)."""
    return _article_markdown.parse(source)


def render_article_tokens(tokens: Sequence[Token]) -> str:
    """Render (and sanitise) an article's tokens as parse_article gave them, changed only by
    anchors (ids on passage elements) and marker text."""
    html = _article_markdown.renderer.render(tokens, _article_markdown.options, {})
    return _clean(html, attributes=_ARTICLE_ATTRIBUTES)
