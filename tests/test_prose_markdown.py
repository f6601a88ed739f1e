"""Plain prose skips the Markdown parser (forum.markdown._prose_html): on any text where it
does, the reply must come out exactly as the parser would have made it."""

from __future__ import annotations

import random

from forum.images.policy import LINK_IMAGES
from forum.markdown import _clean, _prose_html, _user_markdown, render_reply

# Weighted towards what could fool a shortcut: Markdown's marks at the start and end of lines,
# spaces, runs of line breaks, digits before "." or ")", link-like words, letters of other
# scripts, and characters that are not prose at all.
_PIECES = (
    list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789")
    + list(".,;:?!'\"()-/%$+=")
    + [" ", " ", "  ", "\n", "\n", "\n\n", "\n \n", "\t", "é", "ß", "中", "Ω", "\u00a0"]
    + ["1.", "2)", "10.", "-", "--", "---", "+", "==", "#", ">", "*", "_", "`", "~", "|", "&", "<"]
    + ["[", "]", "@", "\\", "example.com", "www.x.org", "http://a.b", "a@b.co", "mailto:x"]
    + ["a.bu", "x.co", "www", "ftp:", "HTTP:", ".com", ".рф", "ab.cd.ef", ":/", "/", "//"]
    + ["    code", "word. ", " word", "x\r\ny"]
)


def _parsed(text: str) -> str:
    return _user_markdown.render(text, {"images": LINK_IMAGES, "mentions": {}})


def _sample(generator: random.Random) -> str:
    return "".join(generator.choice(_PIECES) for _ in range(generator.randint(0, 30)))


def test_prose_renders_as_the_parser_renders_it() -> None:
    generator = random.Random(20261130)
    shortcuts = 0
    for _ in range(30_000):
        text = _sample(generator)
        html = _prose_html(text)
        if html is not None:
            shortcuts += 1
            assert html == _parsed(text), repr(text)
    # The generator reaches the shortcut often enough for this to mean something.
    assert shortcuts > 1_000, shortcuts


def test_everyday_replies_take_the_shortcut_and_read_the_same() -> None:
    replies = [
        "Agreed. The second point is the one that matters.",
        'He said "no" twice (once on TV) - and 40% of voters heard it.\nStill: why now?',
        "First paragraph.\n\nSecond one, after a blank line.\n\n\n",
        "Ça dépend: 3 choses, peut-être 4!",
    ]
    for text in replies:
        html = _prose_html(text)
        assert html is not None, text
        assert render_reply(text) == _clean(_parsed(text), images=False, headings=False)


def test_marks_of_markdown_go_to_the_parser() -> None:
    for text in [
        "- a list",
        "1. first",
        "Title\n===",
        "a line  \nwith a hard break",
        "    indented code",
        "see example.com",
        "*emphasis*",
        "a <b>tag</b>",
        "@someone hello",
        "x\r\ny",
    ]:
        assert _prose_html(text) is None, text
