"""forum.db's hand-written statements against the ORM's, on the suite's database.

lookup_models: on SQLite a lookup reads its own connection on the event loop's thread; it must
still see every committed write, see a transaction's own writes inside it, and give the same
models the ORM gives (on PostgreSQL it is select_models, and the same must hold). insert_rows:
rows as bulk_create writes them, and never a column left to a default the database does not
have."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from tortoise.transactions import in_transaction

import forum.db
from forum.db import close_lookups, insert_rows, lookup_models, open_lookups, select_models
from models import Article, Notification, NotificationKind, Reply, User
from tests.conftest import unique_name

BY_SLUG = "SELECT * FROM articles WHERE slug = ?"


@pytest_asyncio.fixture
async def lookups(db: None, database_url: str) -> AsyncIterator[None]:
    """lookup_models' own connection opened as open_database opens it (on SQLite only)."""
    open_lookups(database_url)
    assert (forum.db._lookups is not None) is database_url.startswith("sqlite")
    yield
    close_lookups()


async def new_article(title: str = "Before") -> Article:
    slug = unique_name("lookup").replace("_", "-")
    return await Article.create(slug=slug, title=title, body_markdown="x", body_html="<p>x</p>")


async def test_a_lookup_sees_each_committed_write_at_once(lookups: None) -> None:
    article = await new_article()
    for title in ["After", "Again"]:
        await Article.filter(id=article.id).update(title=title)
        [found] = await lookup_models(Article, BY_SLUG, [article.slug])
        assert found.title == title
    await article.delete()
    assert await lookup_models(Article, BY_SLUG, [article.slug]) == []


async def test_inside_a_transaction_a_lookup_sees_its_writes(lookups: None) -> None:
    article = await new_article()
    async with in_transaction():
        await Article.filter(id=article.id).update(title="Uncommitted")
        [found] = await lookup_models(Article, BY_SLUG, [article.slug])
        assert found.title == "Uncommitted"
    await article.delete()


async def test_a_looked_up_model_equals_the_orms(lookups: None) -> None:
    name = unique_name("lookup")
    user = await User.create(username=name, username_key=name, password_hash="x")
    [found] = await lookup_models(User, "SELECT * FROM users WHERE id = ?", [user.id])
    fetched = await User.get(id=user.id)
    for field in User._meta.db_fields:
        assert getattr(found, field) == getattr(fetched, field), field
    assert found.created_at.tzinfo is not None
    await user.delete()


async def test_inserted_rows_read_back_as_the_orm_writes_them(db: None) -> None:
    article = await new_article()
    names = [unique_name("row") for _ in range(3)]
    users = [await User.create(username=n, username_key=n, password_hash="x") for n in names]
    reply = await Reply.create(article=article, author=users[0], source="x", html="<p>x</p>")
    now = datetime.now(UTC)
    await insert_rows(
        Notification,
        [
            {
                "user_id": user.id,
                "reply_id": reply.id,
                "kind": NotificationKind.THREAD.value,
                "created_at": now,
                "read_at": None,
            }
            for user in users[1:]
        ],
    )
    await Notification.bulk_create([Notification(user=users[0], reply=reply, kind="reply")])
    rows = await select_models(
        Notification,
        "SELECT * FROM notifications WHERE reply_id = ? ORDER BY user_id",
        [reply.id],
        [],
    )
    assert [(row.user_id, row.kind, row.read_at) for row in rows] == [
        (users[0].id, NotificationKind.REPLY, None),
        (users[1].id, NotificationKind.THREAD, None),
        (users[2].id, NotificationKind.THREAD, None),
    ]
    assert rows[1].created_at == now
    await article.delete()
    for user in users:
        await user.delete()


async def test_insert_rows_refuses_rows_that_leave_a_column_out(db: None) -> None:
    with pytest.raises(ValueError, match="read_at"):
        await insert_rows(
            Notification, [{"user_id": 1, "reply_id": 1, "kind": "reply", "created_at": None}]
        )
