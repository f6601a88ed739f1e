"""forum.db's hand-written statements against the ORM's.

lookup_models: on SQLite a lookup reads its own connection on the event loop's thread; it must
still see every committed write, see a transaction's own writes inside it, and give the same
models the ORM gives. insert_rows: rows as bulk_create writes them, and never a column left to
a default the database does not have."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

import forum.db
from forum.db import (
    close_lookups,
    insert_rows,
    lookup_models,
    migrate_database,
    open_lookups,
    select_models,
    tortoise_config,
)
from forum.settings import Settings
from models import Article, Notification, NotificationKind, Reply, User

BY_SLUG = "SELECT * FROM articles WHERE slug = ?"


async def in_own_sqlite(folder: Path, check: Callable[[], Awaitable[None]]) -> None:
    """Run check with the forum's database opened as open_database opens it, on a file of its
    own, in a Tortoise context of its own and without the global fallback the app sets:
    Tortoise.init re-initialises whatever context is current, and pytest-asyncio runs every
    test of a worker in one, whose other tests' ORM closing this one's would leave closed."""
    url = f"sqlite://{folder / 'own.sqlite3'}"
    async with TortoiseContext():
        await migrate_database(Settings(database_url=url, secret_key="t"))
        await Tortoise.init(config=tortoise_config(url))
        open_lookups(url)
        try:
            await check()
        finally:
            close_lookups()


async def test_a_lookup_sees_each_committed_write_at_once(tmp_path: Path) -> None:
    await in_own_sqlite(tmp_path, _sees_committed_writes)


async def _sees_committed_writes() -> None:
    assert forum.db._lookups is not None  # the loop's own connection, not the ORM's
    article = await Article.create(
        slug="lookups", title="Before", body_markdown="x", body_html="<p>x</p>"
    )
    for title in ["After", "Again"]:
        await Article.filter(id=article.id).update(title=title)
        [found] = await lookup_models(Article, BY_SLUG, ["lookups"])
        assert found.title == title
    await Article.filter(id=article.id).delete()
    assert await lookup_models(Article, BY_SLUG, ["lookups"]) == []


async def test_inside_a_transaction_a_lookup_sees_its_writes(tmp_path: Path) -> None:
    await in_own_sqlite(tmp_path, _sees_its_transaction)


async def _sees_its_transaction() -> None:
    await Article.create(slug="inside", title="Before", body_markdown="x", body_html="<p>x</p>")
    async with in_transaction():
        await Article.filter(slug="inside").update(title="Uncommitted")
        [found] = await lookup_models(Article, BY_SLUG, ["inside"])
        assert found.title == "Uncommitted"


async def test_a_looked_up_model_equals_the_orms(tmp_path: Path) -> None:
    await in_own_sqlite(tmp_path, _equals_the_orms)


async def _equals_the_orms() -> None:
    user = await User.create(username="lookup_user", username_key="lookup_user", password_hash="x")
    [found] = await lookup_models(User, "SELECT * FROM users WHERE id = ?", [user.id])
    fetched = await User.get(id=user.id)
    for field in User._meta.db_fields:
        assert getattr(found, field) == getattr(fetched, field), field
    assert found.created_at.tzinfo is not None


async def test_inserted_rows_read_back_as_the_orm_writes_them(tmp_path: Path) -> None:
    await in_own_sqlite(tmp_path, _inserted_rows_read_back)


async def _inserted_rows_read_back() -> None:
    article = await Article.create(slug="rows", title="T", body_markdown="x", body_html="<p>x</p>")
    users = [
        await User.create(username=f"row_{n}", username_key=f"row_{n}", password_hash="x")
        for n in range(3)
    ]
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


async def test_insert_rows_refuses_rows_that_leave_a_column_out(tmp_path: Path) -> None:
    await in_own_sqlite(tmp_path, _refuses_a_row_without_read_at)


async def _refuses_a_row_without_read_at() -> None:
    with pytest.raises(ValueError, match="read_at"):
        await insert_rows(
            Notification, [{"user_id": 1, "reply_id": 1, "kind": "reply", "created_at": None}]
        )
