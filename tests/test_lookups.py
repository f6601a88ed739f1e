"""forum.db.lookup_models: on SQLite a lookup reads its own connection on the event loop's
thread; it must still see every committed write, see a transaction's own writes inside it, and
give the same models the ORM gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tortoise.transactions import in_transaction

import forum.db
from forum.db import close_database, lookup_models, migrate_database, open_database
from forum.settings import Settings
from models import Article, User

BY_SLUG = "SELECT * FROM articles WHERE slug = ?"


@asynccontextmanager
async def own_sqlite(folder: Path) -> AsyncIterator[None]:
    """The forum's database opened as the app opens it, on a file of its own (opened and
    closed in the test's own task: Tortoise keeps its connections per context)."""
    settings = Settings(database_url=f"sqlite://{folder / 'lookups.sqlite3'}", secret_key="t")
    await migrate_database(settings)
    await open_database(settings)
    try:
        yield
    finally:
        await close_database()


async def test_a_lookup_sees_each_committed_write_at_once(tmp_path: Path) -> None:
    async with own_sqlite(tmp_path):
        await _sees_committed_writes()


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
    async with own_sqlite(tmp_path):
        await _sees_its_transaction()


async def _sees_its_transaction() -> None:
    await Article.create(slug="inside", title="Before", body_markdown="x", body_html="<p>x</p>")
    async with in_transaction():
        await Article.filter(slug="inside").update(title="Uncommitted")
        [found] = await lookup_models(Article, BY_SLUG, ["inside"])
        assert found.title == "Uncommitted"


async def test_a_looked_up_model_equals_the_orms(tmp_path: Path) -> None:
    async with own_sqlite(tmp_path):
        await _equals_the_orms()


async def _equals_the_orms() -> None:
    user = await User.create(username="lookup_user", username_key="lookup_user", password_hash="x")
    [found] = await lookup_models(User, "SELECT * FROM users WHERE id = ?", [user.id])
    fetched = await User.get(id=user.id)
    for field in User._meta.db_fields:
        assert getattr(found, field) == getattr(fetched, field), field
    assert found.created_at.tzinfo is not None
