"""The passages of an article: each paragraph, heading and list item, with a stable anchor.

The anchor rule (docs/passages.md): a passage's anchor is "p-" followed by the first 8 hex
digits of the SHA-256 of its text (as a reader sees it, runs of whitespace as one space); the
second passage with the same text gets "-2" added, the third "-3", in document order. It depends
on the article's Markdown alone, so it stays the same across restarts and re-renders, and a
passage keeps its anchor when others around it change. A paragraph inside a list item belongs
to the item (one passage), so passages never nest.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markdown_it.token import Token
from markupsafe import Markup

from forum.markdown import parse_article, render_article_tokens
from forum.validation import ValidationError
from models import Article

#: What an anchor may look like (anything else is no anchor of any article).
ANCHOR_PATTERN = re.compile(r"p-[0-9a-f]{8}(-[0-9]{1,4})?")
#: Block tokens that open a passage, and the token that closes each.
_PASSAGE_OPEN = {
    "paragraph_open": "paragraph_close",
    "heading_open": "heading_close",
    "list_item_open": "list_item_close",
}
# Private-use characters around an anchor mark where a passage ends in the rendered HTML; the
# page puts the passage's tools (discuss link, count) there. Stripped from the source first.
_MARK_START, _MARK_END = "\ue000", "\ue001"
_MARK = re.compile(f"{_MARK_START}([a-z0-9-]+){_MARK_END}")


@dataclass(frozen=True)
class Passage:
    """One passage: its anchor and its text (whitespace collapsed)."""

    anchor: str
    text: str


@dataclass(frozen=True)
class ArticlePassages:
    """An article's passages, and its body as HTML pieces each followed by the anchor of the
    passage whose tools go there (None after the last piece): inside a list item at its end,
    right after a paragraph or heading."""

    passages: tuple[Passage, ...]
    segments: tuple[tuple[Markup, str | None], ...]

    @functools.cached_property
    def by_anchor(self) -> dict[str, Passage]:
        """Passages by anchor."""
        return {passage.anchor: passage for passage in self.passages}


def normalise(text: str) -> str:
    """Text as passages and quotes are compared: runs of whitespace as one space, trimmed."""
    return " ".join(text.split())


def article_passages(article: Article) -> ArticlePassages:
    """The passages of the article, as its Markdown gives them (cached per body)."""
    return _passages_of(article.body_markdown)


@functools.lru_cache(maxsize=64)
def _passages_of(source: str) -> ArticlePassages:
    tokens = parse_article(source.replace(_MARK_START, "").replace(_MARK_END, ""))
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    ends: dict[int, str] = {}  # index of the token a passage's tools go before -> its anchor
    index = 0
    while index < len(tokens):
        token = tokens[index]
        close = _PASSAGE_OPEN.get(token.type)
        if close is None:
            index += 1
            continue
        end = _closing(tokens, index, close)
        text = normalise(" ".join(_block_text(tokens[index + 1 : end])))
        if not text:
            index = end + 1
            continue
        base = "p-" + hashlib.sha256(text.encode()).hexdigest()[:8]
        seen[base] = seen.get(base, 0) + 1
        anchor = base if seen[base] == 1 else f"{base}-{seen[base]}"
        token.attrSet("id", anchor)
        passages.append(Passage(anchor, text))
        # A list item's tools go inside it (a list holds only items); other passages' after
        # them, so that a heading's or paragraph's own text stays only its words.
        ends[end if token.type == "list_item_open" else end + 1] = anchor
        index = end + 1  # what is inside a passage belongs to it
    marked: list[Token] = []
    for position in range(len(tokens) + 1):
        if position in ends:
            marked.append(
                Token("html_block", "", 0, content=_MARK_START + ends[position] + _MARK_END)
            )
        if position < len(tokens):
            marked.append(tokens[position])
    pieces = _MARK.split(render_article_tokens(marked))
    segments = [
        (Markup(pieces[i]), pieces[i + 1] if i + 1 < len(pieces) else None)
        for i in range(0, len(pieces), 2)
    ]
    return ArticlePassages(tuple(passages), tuple(segments))


def _closing(tokens: Sequence[Token], start: int, close: str) -> int:
    """The index of the token closing the one at start (same nesting level)."""
    level = tokens[start].level
    for index in range(start + 1, len(tokens)):
        if tokens[index].type == close and tokens[index].level == level:
            return index
    return len(tokens) - 1


def _block_text(tokens: Sequence[Token]) -> list[str]:
    """The text a reader sees of these block tokens, one piece per block."""
    return [
        "".join(_inline_text(token.children or [])) if token.type == "inline" else token.content
        for token in tokens
        if token.type in ("inline", "code_block", "fence")
    ]


def _inline_text(tokens: Sequence[Token]) -> list[str]:
    """The text a reader sees of these inline tokens (images show no text to select)."""
    parts: list[str] = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif token.type != "image" and token.children:
            parts.extend(_inline_text(token.children))
    return parts


def find_passage(article: Article, anchor: object) -> Passage:
    """The article's passage with this anchor; ValidationError on "passage" otherwise."""
    if isinstance(anchor, str) and ANCHOR_PATTERN.fullmatch(anchor):
        passage = article_passages(article).by_anchor.get(anchor)
        if passage is not None:
            return passage
    raise ValidationError({"passage": "There is no such passage in this article."})


def names_passage(anchor: object, quote: object) -> bool:
    """Whether a reply's fields say it is about a passage (check_quote then reads the
    article's body)."""
    return anchor not in (None, "") or quote not in (None, "")


def check_quote(article: Article, anchor: object, quote: object) -> tuple[str, str] | None:
    """(anchor, quote) of a reply about a passage, the quote with whitespace collapsed; None
    when it names no passage. ValidationError for an unknown anchor, or a quote that is not
    words of that passage."""
    if not names_passage(anchor, quote):
        return None
    if anchor in (None, ""):
        raise ValidationError({"passage": "A quote needs the passage it comes from."})
    passage = find_passage(article, anchor)
    text = normalise(quote) if isinstance(quote, str) else ""
    if not text:
        raise ValidationError({"quote": "Quote some words of the passage."})
    if text not in passage.text:
        raise ValidationError({"quote": "The quote must be words of that passage, as written."})
    return passage.anchor, text
