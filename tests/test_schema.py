"""The migrated schema has the indexes the thread's queries rely on.

Tortoise's SQLite migrations rebuild a table to alter a column and drop its indexes on the way;
without them every page scans the whole thread (bench/page.py showed it).
"""

from __future__ import annotations

from tortoise import Tortoise

from models import Reply


async def _reply_indexes(database_url: str) -> set[tuple[str, ...]]:
    client = Reply._meta.db
    if database_url.startswith("sqlite"):
        names = await client.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'replies'"
        )
        columns = set()
        for row in names:
            info = await client.execute_query_dict(f'PRAGMA index_info("{row["name"]}")')
            columns.add(tuple(item["name"] for item in sorted(info, key=lambda i: i["seqno"])))
        return columns
    rows = await client.execute_query_dict(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'replies'"
    )
    found = set()
    for row in rows:
        inside = row["indexdef"].split("(", 1)[1].rsplit(")", 1)[0]
        found.add(tuple(part.strip().strip('"') for part in inside.split(",")))
    return found


async def test_replies_keep_their_indexes_after_migrating(db: None, database_url: str) -> None:
    assert Tortoise.apps  # the db fixture connected the ORM
    indexes = await _reply_indexes(database_url)
    for expected in [
        ("article_id", "parent_id", "id"),
        ("parent_id", "id"),
        ("article_id", "status"),
        ("author_id", "id"),
    ]:
        assert expected in indexes, indexes
