"""Markdown to safe HTML: markdown-it-py with raw HTML off, then an nh3 allowlist.

A reply's images never point at another site: each becomes a link, or an image served by the
forum's own proxy, as the ImagePolicy passed in says (forum/images).

`@name` in a reply's text (not in code, not inside a link) becomes a link to that member's
page, when the caller says the name is a member's (render_reply's `mentions`): this module
knows Markdown, not who exists; `mention_keys` tells the caller which names to look up.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from forum.images.policy import LINK_IMAGES, PROXY, ImagePolicy
from forum.urls import user_url

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


def _render_heading(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: MutableMapping[str, Any],
) -> str:
    """A reply's heading is a bold paragraph: a reply sits at different depths of different
    pages' outlines (thread, permalink, profile, queue), and a heading of its own would break
    each page's heading order for those who navigate by headings."""
    return "<p><strong>" if tokens[idx].type == "heading_open" else "</strong></p>\n"


#: `@name` as a username is written (forum.accounts: 3-30 of A-Z, a-z, 0-9, _ and -), not in
#: the middle of a word or an address (`me@example.org`), and not a longer name cut short.
MENTION = re.compile(r"(?<![A-Za-z0-9_@-])@([A-Za-z0-9_-]{3,30})(?![A-Za-z0-9_@-])")


def _mentions_in(children: Sequence[Token]) -> Iterator[tuple[int, re.Match[str]]]:
    """Each @name of an inline run's text, with the index of its text token: not in code spans
    (they are code_inline tokens, and code blocks are no inline runs at all), not in a link's
    text (links do not nest), not in an image's description (its children are not walked)."""
    depth = 0
    for index, token in enumerate(children):
        depth += {"link_open": 1, "link_close": -1}.get(token.type, 0)
        if token.type == "text" and depth == 0 and "@" in token.content:
            for match in MENTION.finditer(token.content):
                yield index, match


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _link_mentions(state: StateCore) -> None:
    """Core rule (after text_join): split text around each @name of a member into a link to
    their page. env["mentions"] maps a name's key (lower case) to the member's username."""
    members: Mapping[str, str] = state.env.get("mentions") or {}
    if not members:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        found: dict[int, list[re.Match[str]]] = {}
        for index, match in _mentions_in(block.children):
            if match.group(1).lower() in members:
                found.setdefault(index, []).append(match)
        if not found:
            continue
        children: list[Token] = []
        for index, token in enumerate(block.children):
            if index not in found:
                children.append(token)
                continue
            start = 0
            for match in found[index]:
                if match.start() > start:
                    children.append(_text(token.content[start : match.start()]))
                link = Token("link_open", "a", 1)
                link.attrSet("href", str(user_url(members[match.group(1).lower()])))
                children += [link, _text(match.group(0)), Token("link_close", "a", -1)]
                start = match.end()
            if start < len(token.content):
                children.append(_text(token.content[start:]))
        block.children = children


# linkify: a bare address typed in a reply becomes a link (nh3 then marks it rel="nofollow ugc").
_user_markdown = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": True}).enable(
    ["strikethrough", "table", "linkify"]
)
_user_markdown.add_render_rule("image", _render_image)
_user_markdown.add_render_rule("heading_open", _render_heading)
_user_markdown.add_render_rule("heading_close", _render_heading)
_HEADINGS = {f"h{level}" for level in range(1, 7)}
_user_markdown.core.ruler.push("mentions", _link_mentions)
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
    headings: bool = True,
    passage_ids: bool = False,
) -> str:
    cleaned = _cleaner(images, proxied_images_only, headings, passage_ids).clean(html)
    # A code block too wide for the column scrolls; keyboard users reach it to scroll it.
    return cleaned.replace("<pre>", '<pre tabindex="0">')


@functools.cache
def _cleaner(
    images: bool, proxied_images_only: bool, headings: bool, passage_ids: bool
) -> nh3.Cleaner:
    # Built once per kind of text: nh3.clean builds its allowlist anew at every call, which
    # cost a reply seven times what cleaning its HTML does.
    return nh3.Cleaner(
        tags=_ALLOWED_TAGS - (set() if images else {"img"}) - (set() if headings else _HEADINGS),
        attributes=_ARTICLE_ATTRIBUTES if passage_ids else _ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel=_LINK_REL,
        attribute_filter=_only_proxied_images if proxied_images_only else None,
    )


def mention_keys(source: str) -> tuple[str, ...]:
    """The names a reader's Markdown mentions (@name outside code and links), as keys (lower
    case, forum.accounts.service.username_key), each once, in the order they first appear."""
    if "@" not in source:
        return ()
    keys: dict[str, None] = {}
    for block in _user_markdown.parse(source):
        if block.type == "inline" and block.children:
            for _, match in _mentions_in(block.children):
                keys.setdefault(match.group(1).lower())
    return tuple(keys)


def render_reply(
    source: str, images: ImagePolicy = LINK_IMAGES, mentions: Mapping[str, str] | None = None
) -> str:
    """Render a reader's Markdown to sanitised HTML (headings as bold paragraphs, links marked
    ugc, images as links or through the forum's proxy, as `images` says, and each @name that
    `mentions` maps from its key to a member's username a link to their page)."""
    html = _prose_html(source)
    if html is None:
        html = _user_markdown.render(source, {"images": images, "mentions": mentions or {}})
    # Belt and braces: whatever the renderer made, no <img> may point anywhere but the proxy,
    # and no heading enters the page's outline.
    proxy = images.mode == PROXY
    return _clean(html, images=proxy, proxied_images_only=proxy, headings=False)


#: Plain prose: letters, digits, spaces, line breaks, and punctuation that means nothing to
#: Markdown inside a line (see _prose_html for the start of a line).
_PROSE = re.compile(r"[^\W_ ]*(?:[ \n.,;:?!'\"()\-/%$+=][^\W_]*)*")
#: Lines that Markdown may read as a block of their own (list, rule, heading underline).
_BLOCK_START = re.compile(r"[-+=]|\d+[.)]")
#: What every link linkify makes of prose has: a dot before a letter or digit (a host name).
_DOTTED = re.compile(r"\.[^\W_]")


def _prose_html(source: str) -> str | None:
    """The HTML markdown-it makes of source when source is plain prose, or None when it is not
    (then the parser decides).

    Most replies are a few lines of prose: for them the parser (about 50 µs a reply) would find
    only paragraphs and line breaks. Plain means: only what _PROSE matches; no line starts with
    a space or what _BLOCK_START matches, or ends with a space; no "//" and no link linkify
    would make. tests/test_prose_markdown.py checks the two agree on generated text.
    """
    if not _PROSE.fullmatch(source):
        return None
    paragraphs: list[list[str]] = [[]]
    for line in source.split("\n"):
        if not line:
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        if line[0] == " " or line[-1] == " " or _BLOCK_START.match(line):
            return None
        paragraphs[-1].append(escapeHtml(line))
    # Any "//" (a scheme's, or a protocol-relative link's): markdown-it finds links after
    # letters that linkify's test does not.
    linkify = _user_markdown.linkify
    if "//" in source or (_DOTTED.search(source) and linkify is not None and linkify.test(source)):
        return None
    return "".join("<p>" + "<br />\n".join(lines) + "</p>\n" for lines in paragraphs if lines)


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
    return _clean(html, passage_ids=True)
