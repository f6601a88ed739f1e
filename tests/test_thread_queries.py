"""Reading a thread costs a fixed number of SQL statements, however big the thread is.

Counted in the test process, on the same database as the server: the thread readers run against
a small thread and one many times its size, and every statement the connection executes is
counted by wrapping the client's execute methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from forum.replies.thread import (
    Order,
    TreeShape,
    ancestors,
    children_chunk,
    single_node,
    top_level_chunk,
)
from forum.settings import Settings
from models import Article, Reply, ReplyStatus, User
from tests.conftest import unique_name

SETTINGS = Settings()
#: What the article page and a permalink load (as forum.articles.web.tree_shape builds it).
PAGE_SHAPE = TreeShape(
    children_preview=SETTINGS.children_preview, levels=SETTINGS.preview_depth - 1
)
EXECUTE_METHODS = (
    "execute_query",
    "execute_query_dict",
    "execute_insert",
    "execute_many",
    "execute_script",
)


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Collect the SQL of every statement the default connection runs inside the block."""
    client = get_connection("default")
    statements: list[str] = []

    def counted(execute: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(query: str, *args: Any, **kwargs: Any) -> Any:
            statements.append(query)
            return await execute(query, *args, **kwargs)

        return run

    with pytest.MonkeyPatch.context() as patch:
        for name in EXECUTE_METHODS:
            patch.setattr(client, name, counted(getattr(client, name)))
        yield statements


async def seed_thread(article: Article, author: User, top: int, fan_out: list[int]) -> list[Reply]:
    """top replies to the article, each with fan_out[0] replies, each of those with fan_out[1]..."""
    every: list[Reply] = []
    async with in_transaction():
        level: list[Reply | None] = [None] * top
        for count in [1, *fan_out]:
            below: list[Reply | None] = []
            for parent in level:
                for _ in range(count):
                    reply = await Reply.create(
                        article=article,
                        author=author,
                        parent=parent,
                        depth=parent.depth + 1 if parent else 0,
                        ancestry=f"{parent.ancestry}{parent.id}/" if parent else "",
                        source="seeded",
                        html="<p>seeded</p>",
                    )
                    every.append(reply)
                    below.append(reply)
            level = below
        # A deleted reply with replies under it stays as a stub; reading it must cost nothing more.
        await Reply.filter(id=every[0].id).update(status=ReplyStatus.DELETED, source="", html="")
    return every


async def statements_to_read(article: Article) -> dict[str, int]:
    """How many statements each way of reading the thread issues."""
    tops = await Reply.filter(article_id=article.id, parent_id=None).order_by("id")
    deepest = await Reply.filter(article_id=article.id).order_by("-depth", "id").first()
    assert deepest is not None
    counts: dict[str, int] = {}
    with counting_statements() as statements:
        first = await top_level_chunk(
            article,
            None,
            order=Order.NEWEST,
            cursor=None,
            limit=SETTINGS.page_size,
            shape=PAGE_SHAPE,
        )
    counts["top_level_chunk"] = len(statements)
    with counting_statements() as statements:
        await top_level_chunk(
            article, None, order=Order.OLDEST, cursor=tops[0].id, limit=SETTINGS.page_size,
            shape=PAGE_SHAPE,
        )  # fmt: skip
    counts["top_level_chunk(cursor)"] = len(statements)
    with counting_statements() as statements:
        top = await top_level_chunk(
            article, None, order=Order.TOP, cursor=None, limit=2, shape=PAGE_SHAPE
        )
    counts["top_level_chunk(top)"] = len(statements)
    with counting_statements() as statements:
        await top_level_chunk(
            article, None, order=Order.TOP, cursor=top.next_cursor, limit=2, shape=PAGE_SHAPE
        )
    counts["top_level_chunk(top, cursor)"] = len(statements)
    with counting_statements() as statements:
        await children_chunk(tops[0], None, cursor=None, limit=SETTINGS.page_size, shape=PAGE_SHAPE)
    counts["children_chunk"] = len(statements)
    with counting_statements() as statements:
        await single_node(tops[-1], None, PAGE_SHAPE)
    counts["single_node"] = len(statements)
    with counting_statements() as statements:
        await ancestors(deepest, None, SETTINGS.permalink_ancestors)
    counts["ancestors"] = len(statements)
    # The preview really went PAGE_SHAPE.levels deep, so no query was skipped for lack of rows.
    edge = first.nodes[-1]
    for _ in range(PAGE_SHAPE.levels):
        edge = edge.children[0]
    assert edge.at_preview_edge and edge.child_count > 0
    return counts


@pytest.fixture
async def author(db: None) -> User:
    """A member to write the seeded replies."""
    name = unique_name("seeder")
    return await User.create(username=name, username_key=name.lower(), password_hash="unused")


async def test_reading_a_thread_costs_the_same_queries_whatever_its_size(
    author: User, db: None
) -> None:
    sizes = {"small": (2, [2, 1, 1]), "big": (SETTINGS.page_size + 2, [5, 2, 1])}
    measured: dict[str, dict[str, int]] = {}
    seeded: dict[str, int] = {}
    for label, (top, fan_out) in sizes.items():
        slug = unique_name("queries").replace("_", "-")
        article = await Article.create(
            slug=slug, title=slug, body_markdown="Text.\n", body_html="<p>Text.</p>\n"
        )
        try:
            seeded[label] = len(await seed_thread(article, author, top, fan_out))
            measured[label] = await statements_to_read(article)
        finally:
            await article.delete()
    print(f"\nreplies seeded: {seeded}; SQL statements per call: {measured['small']}")
    assert seeded["big"] >= 10 * seeded["small"]
    assert measured["big"] == measured["small"]
    # A chunk with its preview, authors and child counts is one statement, and so are the rest.
    assert measured["small"] == dict.fromkeys(measured["small"], 1)
