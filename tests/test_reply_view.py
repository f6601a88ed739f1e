"""A reply's main block is memoised on its view (forum.reply_view): whatever changes in the
reply, in the viewer's flags or in the time, the block served is the block drawn afresh."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from bs4 import BeautifulSoup

from forum.reply_view import view_of
from forum.templating import build_templates
from models import HideReason, ReplyStatus

EDIT_WINDOW = timedelta(minutes=15)


@dataclass
class Node:
    """The parts of forum.replies.thread.ReplyNode a view reads."""

    reply: Any
    shows_body: bool = True
    voted: bool = False
    muted: bool = False
    is_new: bool = False

    @property
    def pinned(self) -> bool:
        return self.reply.pinned_at is not None


def a_reply(**changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "id": 7,
        "author": SimpleNamespace(username="alice"),
        "created_at": datetime.now(UTC) - timedelta(minutes=3),
        "edited_at": None,
        "status": ReplyStatus.VISIBLE,
        "hidden_reason": None,
        "hidden_note": None,
        "passage": None,
        "quote": None,
        "html": "<p>first words</p>",
        "score": 0,
        "pinned_at": None,
    }
    return SimpleNamespace(**{**values, **changes})


ARTICLE = SimpleNamespace(slug="an-article")

# Each a change someone can make to a reply, or to how one viewer sees it.
CHANGES: dict[str, Any] = {
    "edited": lambda node: replace(
        node, reply=a_reply(html="<p>other words</p>", edited_at=datetime.now(UTC))
    ),
    "voted on": lambda node: replace(node, reply=a_reply(score=5)),
    "voted by the viewer": lambda node: replace(node, reply=a_reply(score=1), voted=True),
    "pinned": lambda node: replace(node, reply=a_reply(pinned_at=datetime.now(UTC))),
    "hidden, seen by a moderator": lambda node: replace(
        node,
        reply=a_reply(
            status=ReplyStatus.HIDDEN, hidden_reason=HideReason.SPAM, hidden_note="bought links"
        ),
    ),
    "hidden, seen as a stub": lambda node: replace(
        node, reply=a_reply(status=ReplyStatus.HIDDEN, html=""), shows_body=False
    ),
    "author deleted": lambda node: replace(
        node, reply=a_reply(author=SimpleNamespace(username="[deleted account]"))
    ),
    "author muted by the viewer": lambda node: replace(node, muted=True),
    "new since the last visit": lambda node: replace(node, is_new=True),
    "an hour older": lambda node: replace(
        node, reply=a_reply(created_at=node.reply.created_at - timedelta(hours=1))
    ),
    "a minute less to edit": lambda node: replace(
        node, reply=a_reply(created_at=node.reply.created_at - timedelta(minutes=1))
    ),
    "about a passage": lambda node: replace(
        node, reply=a_reply(passage="p-1a2b3c", quote="a <quoted> passage")
    ),
}


@pytest.fixture(scope="module")
def templates() -> Any:
    return build_templates(int(EDIT_WINDOW.total_seconds()))


def drawn_afresh(templates: Any, node: Node) -> str:
    macro = templates.env.get_template("_reply.html").module.reply_main_view
    return str(macro(view_of(node, ARTICLE, EDIT_WINDOW)))


def served(templates: Any, node: Node) -> str:
    return str(templates.env.globals["reply_main_block"](node, ARTICLE))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_reply_is_never_served_from_its_old_block(templates: Any, change: str) -> None:
    before = Node(a_reply())
    assert served(templates, before) == drawn_afresh(templates, before)
    after = CHANGES[change](before)
    assert served(templates, after) == drawn_afresh(templates, after)
    assert served(templates, after) != served(templates, before)


def test_the_same_reply_is_served_the_same_block_once_drawn(templates: Any) -> None:
    moment = datetime.now(UTC) - timedelta(hours=2)
    block = templates.env.globals["reply_main_block"]
    first = block(Node(a_reply(id=8, created_at=moment)), ARTICLE)
    # Another load of the page builds new objects for the same reply: the same view, one block.
    assert block(Node(a_reply(id=8, created_at=moment)), ARTICLE) is first


def test_the_block_reads_as_the_reply_says(templates: Any) -> None:
    node = Node(a_reply(score=3, passage="p-1", quote="<b>not bold</b>"))
    block = BeautifulSoup(served(templates, node), "html.parser")
    assert block.select_one("#score-7").get_text() == "3"
    assert block.select_one(".passage-quote blockquote").get_text() == "<b>not bold</b>"
    assert block.select_one(".when time").get_text() == "3 minutes ago"
    assert block.select_one(".edit-left").get_text() == "(12 min left)"
