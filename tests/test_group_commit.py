"""Group commit on SQLite (forum.group_commit): transactions that queue up meanwhile commit
together, each in its own savepoint, so one that fails is undone alone and answers its own
error, and none returns before the group's COMMIT. On PostgreSQL the bus keeps one transaction
per block; the same assertions hold there."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from tortoise.backends.sqlite.client import SqliteClient
from tortoise.connection import get_connections

from forum.event_types import ThreadLocked
from forum.events import Event, EventBus, Transaction
from forum.group_commit import GroupCommit
from models import Article


async def new_article(label: str) -> Article:
    slug = f"group-{label}-{uuid.uuid4().hex[:10]}"
    return await Article.create(slug=slug, title=slug, body_markdown="x", body_html="<p>x</p>")


class Refused(Exception):
    """What one member of a group raises."""


async def test_concurrent_blocks_commit_alone_or_together_and_a_failure_is_its_own(
    db: None,
) -> None:
    bus = EventBus()
    handled: list[int] = []
    articles = [await new_article(str(number)) for number in range(6)]

    async def handler(event: Event) -> None:
        assert isinstance(event, ThreadLocked)
        # After commit: what the block wrote is there for anyone to read.
        assert (await Article.get(id=event.article_id)).locked
        handled.append(event.article_id)

    bus.subscribe(ThreadLocked, handler)

    async def lock(article: Article, refuse: bool) -> str:
        try:
            async with bus.transaction() as tx:
                await Article.filter(id=article.id).update(locked=True)
                await tx.emit(ThreadLocked(article_id=article.id))
                await asyncio.sleep(0)  # others queue up meanwhile
                if refuse:
                    raise Refused
        except Refused:
            return "refused"
        return "committed"

    refused = {1, 4}
    outcomes = await asyncio.gather(
        *(lock(article, number in refused) for number, article in enumerate(articles))
    )
    assert outcomes == ["refused" if n in refused else "committed" for n in range(6)]
    for number, article in enumerate(articles):
        await article.refresh_from_db()
        assert article.locked is (number not in refused), "a refusal undoes only its own writes"
    assert sorted(handled) == sorted(a.id for n, a in enumerate(articles) if n not in refused)
    for article in articles:
        await article.delete()


async def test_blocks_that_queue_share_one_commit(tmp_path: Path) -> None:
    # On a SQLite file of its own, whichever database the suite runs on: grouping is SQLite's.
    client = SqliteClient(str(tmp_path / "group.sqlite3"), connection_name="group_commit_test")
    await client.create_connection(with_db=True)
    try:
        await client.execute_script("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        await client.execute_many(
            "INSERT INTO notes (id, text) VALUES (?, ?)", [[n, "before"] for n in range(5)]
        )
        group = GroupCommit(client)
        connection = client._connection
        assert connection is not None
        raw = connection._conn
        # sqlite3 has no commit hook: the trace callback sees every statement run.
        statements: list[str] = []
        await connection._execute(raw.set_trace_callback, statements.append)

        async def note(number: int) -> None:
            async with group.transaction():
                in_group = get_connections().get(client.connection_name)
                await in_group.execute_query(
                    "UPDATE notes SET text = ? WHERE id = ?", ["grouped", number]
                )
                await asyncio.sleep(0)

        try:
            await asyncio.gather(*(note(number) for number in range(5)))
        finally:
            await connection._execute(raw.set_trace_callback, None)
        begins = [statement for statement in statements if statement.startswith("BEGIN")]
        assert len(begins) == 1, statements
        assert statements.count("COMMIT") == 1, "one commit (one fsync) for the five"
        _, rows = await client.execute_query("SELECT text FROM notes")
        assert [row[0] for row in rows] == ["grouped"] * 5
    finally:
        await client.close()


async def test_a_block_inside_a_block_is_a_savepoint_of_it(db: None) -> None:
    bus = EventBus()
    article = await new_article("nested")

    async def hook(event: ThreadLocked, tx: Transaction) -> None:
        # A hook that opens a transaction of its own joins the one it runs in.
        async with bus.transaction():
            await Article.filter(id=article.id).update(subtitle="inner")

    bus.hook(ThreadLocked, hook)
    async with bus.transaction() as tx:
        await tx.emit(ThreadLocked(article_id=article.id))
    await article.refresh_from_db()
    assert article.subtitle == "inner"
    await article.delete()
