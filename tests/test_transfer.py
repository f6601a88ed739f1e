"""`python -m forum export` and `import`: a forum seeded through the real server moves from
SQLite to PostgreSQL and back with every row, id and sequence number, and keeps working there.

These tests make their own databases (a SQLite file, a PostgreSQL database of their own) and
never touch the session's: they need PostgreSQL, and skip without it (fail under CI=true).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pty
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from forum.transfer import SECRET_TABLES
from tests.conftest import (
    PASSWORD,
    PROJECT_ROOT,
    SLUG,
    LiveServer,
    Member,
    _run_async,
    own_postgres_database,
    sign_up,
    start_server,
    stop_server,
)

#: Tables the migrations tool keeps for itself: not forum data.
NOT_FORUM = {"tortoise_migrations", "sqlite_sequence"}


def forum(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m forum ...` on a database."""
    env = {**os.environ, "DATABASE_URL": database_url, "ACCESS_LOG": "off"}
    return subprocess.run(
        [sys.executable, "-m", "forum", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


REGISTRY = """
import asyncio, json, os
from tortoise import Tortoise
from forum.db import tortoise_config
from forum.transfer import columns_of, forum_models

async def main():
    await Tortoise.init(config=tortoise_config(os.environ["DATABASE_URL"]))
    try:
        print(json.dumps({
            "models": {m._meta.db_table: columns_of(m) for m in forum_models()},
            "registered": [m._meta.db_table for m in Tortoise.apps["models"].values()],
        }))
    finally:
        await Tortoise.close_connections()

asyncio.run(main())
"""


def forum_python(database_url: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python code with the forum's modules on a database, in a process of its own."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database of this test's own."""
    with own_postgres_database("forum_transfer") as url:
        yield url


# Reading the databases directly (not through the ORM, which the test process binds to one).


def sqlite_tables(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every forum table of a SQLite database, rows in id order."""
    with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
        conn.row_factory = sqlite3.Row
        names = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0] not in NOT_FORUM
        ]
        return {
            name: [dict(row) for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY id')]
            for name in names
        }


async def _postgres_tables(url: str) -> dict[str, list[dict[str, Any]]]:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        names = [
            row["tablename"]
            for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            if row["tablename"] not in NOT_FORUM
        ]
        return {
            name: [dict(row) for row in await conn.fetch(f'SELECT * FROM "{name}" ORDER BY id')]
            for name in names
        }
    finally:
        await conn.close()


def postgres_tables(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every forum table of a PostgreSQL database, rows in id order."""
    found: dict[str, list[dict[str, Any]]] = {}

    async def read() -> None:
        found.update(await _postgres_tables(url))

    _run_async(read())
    return found


def same_value(a: Any, b: Any) -> bool:
    """Equal once each database's spelling is set aside (SQLite: text times, 0/1 booleans)."""
    if isinstance(a, datetime.datetime) or isinstance(b, datetime.datetime):
        a, b = (datetime.datetime.fromisoformat(v) if isinstance(v, str) else v for v in (a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        a, b = (int(v) if isinstance(v, bool | int) else v for v in (a, b))
    return bool(a == b)


def assert_same_tables(
    left: dict[str, list[dict[str, Any]]], right: dict[str, list[dict[str, Any]]]
) -> None:
    assert sorted(left) == sorted(right)
    for table in left:
        assert len(left[table]) == len(right[table]), table
        for one, other in zip(left[table], right[table], strict=True):
            assert sorted(one) == sorted(other), table
            differing = {
                column: (one[column], other[column])
                for column in one
                if not same_value(one[column], other[column])
            }
            assert not differing, (table, one["id"], differing)


# A forum with something in every table, made through the real server.


@dataclass
class Seeded:
    """What the seeding made: the ids a later check needs."""

    alice: str
    reply_ids: list[int]
    hidden_id: int
    deleted_last_id: int


async def _api(member: Member, method: str, path: str, payload: object = None) -> httpx.Response:
    return await member.client.request(
        method, path, json=payload if payload is not None else {}, headers=member.headers()
    )


async def sign_up_with_email(server: LiveServer) -> Member:
    """A member with an email address, so that their notifications go to the mail outbox."""
    username = f"mailed_{uuid.uuid4().hex[:10]}"
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    account = {"username": username, "password": PASSWORD, "email": f"{username}@example.org"}
    created = await client.post("/api/accounts", json=account)
    assert created.status_code == 201, created.text
    await client.aclose()
    # Confirmed, as if the link in the verification mail was opened: notification mail goes
    # only to confirmed addresses.
    database = server.env["DATABASE_URL"].removeprefix("sqlite://")
    with sqlite3.connect(database) as connection:
        connection.execute(
            # In the form the ORM writes times to SQLite.
            "UPDATE users SET email_verified_at = ? WHERE username = ?",
            (datetime.datetime.now(datetime.UTC).isoformat(sep=" "), username),
        )
    return await sign_in(server, username)


async def seed(server: LiveServer) -> Seeded:
    """Replies three deep (one edited, one pinned), a hidden one, a deleted one, a follow with
    its notifications and mail, a flag, a lock and unlock, a mute, a thread visit: every table
    gets rows."""
    alice = await sign_up(server)
    bob = await sign_up_with_email(server)
    moderator = await sign_up(server)
    try:
        done = forum(server.env["DATABASE_URL"], "promote", moderator.username)
        ok(done)
        followed = await _api(bob, "POST", f"/api/articles/{SLUG}/subscription")
        assert followed.status_code < 300, followed.text
        ids: list[int] = []
        parent: int | None = None
        for author, text in [(alice, "first"), (bob, "second"), (alice, "third")]:
            posted = await author.post_reply(f"The {text} reply, **bold**.", parent)
            assert posted.status_code == 201, posted.text
            parent = int(posted.json()["id"])
            ids.append(parent)
        voted = await _api(bob, "PUT", f"/api/replies/{ids[0]}/vote")
        assert voted.status_code == 200, voted.text
        edited = await _api(
            alice, "PATCH", f"/api/replies/{ids[0]}", {"body": "The first, edited."}
        )
        assert edited.status_code == 200, edited.text
        pinned = await _api(moderator, "POST", f"/api/replies/{ids[1]}/pin")
        assert pinned.status_code == 200, pinned.text
        muted = await _api(bob, "POST", f"/api/me/muted/{moderator.username}")
        assert muted.status_code == 200, muted.text
        visited = await alice.client.get(f"/a/{SLUG}")  # a thread visit (new since last time)
        assert visited.status_code == 200
        spam = await alice.post_reply("Buy things at example.org")
        hidden_id = int(spam.json()["id"])
        flag = await _api(bob, "POST", f"/api/replies/{hidden_id}/flags", {"reason": "spam"})
        assert flag.status_code < 300, flag.text
        flag = await _api(bob, "POST", f"/api/replies/{ids[0]}/flags", {"reason": "off-topic"})
        assert flag.status_code < 300, flag.text
        hidden = await _api(
            moderator, "POST", f"/api/replies/{hidden_id}/hide", {"reason": "spam", "note": "ad"}
        )
        assert hidden.status_code == 200, hidden.text
        for action in ["lock", "unlock"]:
            locked = await _api(moderator, "POST", f"/api/articles/{SLUG}/{action}")
            assert locked.status_code == 200, locked.text
        last = await alice.post_reply("Posted, then deleted: its id must never come back.")
        deleted_last_id = int(last.json()["id"])
        gone = await _api(alice, "DELETE", f"/api/replies/{deleted_last_id}")
        assert gone.status_code < 300, gone.text
        return Seeded(alice.username, ids, hidden_id, deleted_last_id)
    finally:
        for someone in (alice, bob, moderator):
            await someone.client.aclose()


async def sign_in(server: LiveServer, username: str) -> Member:
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    session = await client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert session.status_code == 200, session.text
    return Member(username, client, session.json()["csrf_token"])


async def posts_next(
    server: LiveServer, seeded: Seeded, tables: dict[str, list[dict[str, Any]]]
) -> tuple[int, int]:
    """A member of the imported forum signs in (the password came along) and replies: a new id
    past every id the source handed out, and the next seq of the thread's live stream."""
    article = next(row for row in tables["articles"] if row["slug"] == SLUG)
    alice = await sign_in(server, seeded.alice)
    try:
        posted = await alice.post_reply("Written after the move.", seeded.reply_ids[-1])
        assert posted.status_code == 201, posted.text
        new_id = int(posted.json()["id"])
    finally:
        await alice.client.aclose()
    assert new_id == seeded.deleted_last_id + 1
    return new_id, article["last_seq"]


@pytest_asyncio.fixture
async def seeded_sqlite(tmp_path: Path) -> AsyncIterator[tuple[str, Seeded]]:
    """A SQLite forum seeded through its server (stopped again before the test reads it)."""
    url = f"sqlite://{tmp_path / 'source.sqlite3'}"
    process, live = start_server(url, tmp_path)
    try:
        seeded = await seed(live)
    finally:
        stop_server(process)
    yield url, seeded


def last_event(tables: dict[str, list[dict[str, Any]]], article_id: int) -> dict[str, Any]:
    return max(
        (row for row in tables["live_events"] if row["article_id"] == article_id),
        key=lambda row: row["seq"],
    )


async def test_the_forum_moves_to_postgresql_and_back(
    seeded_sqlite: tuple[str, Seeded], postgres_database: str, tmp_path: Path
) -> None:
    source, seeded = seeded_sqlite
    before = sqlite_tables(source)
    # Every table has something in it, so every table is really compared.
    assert all(before[table] for table in before if table != "sessions"), {
        table: len(rows) for table, rows in before.items()
    }
    assert any(row["status"] == "hidden" for row in before["replies"])
    assert max(row["depth"] for row in before["replies"]) == 2

    export = tmp_path / "forum.jsonl"
    ok(forum(source, "export", str(export), "--with-secrets"))
    ok(forum(postgres_database, "import", str(export)))
    moved = postgres_tables(postgres_database)
    assert_same_tables(before, moved)

    # The imported forum takes new replies: no id collision, the stream goes on from its seq.
    process, live = start_server(postgres_database, tmp_path)
    try:
        new_id, last_seq = await posts_next(live, seeded, moved)
    finally:
        stop_server(process)
    after = postgres_tables(postgres_database)
    reply = next(row for row in after["replies"] if row["id"] == new_id)
    assert reply["ancestry"] == "".join(f"{i}/" for i in seeded.reply_ids)
    event = last_event(after, reply["article_id"])
    assert (event["reply_id"], event["seq"]) == (new_id, last_seq + 1)

    # And back to SQLite, with the reply written on PostgreSQL.
    back_file = tmp_path / "back.jsonl"
    ok(forum(postgres_database, "export", str(back_file), "--with-secrets"))
    back = f"sqlite://{tmp_path / 'back.sqlite3'}"
    ok(forum(back, "import", str(back_file)))
    assert_same_tables(after, sqlite_tables(back))
    process, live = start_server(back, tmp_path)
    try:
        alice = await sign_in(live, seeded.alice)
        posted = await alice.post_reply("Back on SQLite.")
        await alice.client.aclose()
    finally:
        stop_server(process)
    assert posted.status_code == 201, posted.text
    assert int(posted.json()["id"]) == new_id + 1


async def test_import_refuses_a_database_that_is_not_empty(
    seeded_sqlite: tuple[str, Seeded], tmp_path: Path
) -> None:
    source, _ = seeded_sqlite
    export = tmp_path / "forum.jsonl"
    ok(forum(source, "export", str(export), "--with-secrets"))
    target = f"sqlite://{tmp_path / 'target.sqlite3'}"
    ok(forum(target, "import", str(export)))
    imported = sqlite_tables(target)

    again = forum(target, "import", str(export))
    assert again.returncode == 2
    assert "not empty" in again.stderr
    assert sqlite_tables(target) == imported

    ok(forum(target, "import", str(export), "--replace"))
    assert sqlite_tables(target) == imported


async def test_without_secrets_no_password_session_or_feed_token_leaves(
    seeded_sqlite: tuple[str, Seeded], tmp_path: Path
) -> None:
    source, seeded = seeded_sqlite
    export = tmp_path / "public.jsonl"
    ok(forum(source, "export", str(export)))
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    header, rows = lines[0], lines[1:]
    assert header["secrets"] is False
    assert "sessions" not in header["tables"]
    users = [item["row"] for item in rows if item["table"] == "users"]
    assert users and all(u["password_hash"] == "" and u["feed_token"] is None for u in users)
    stored = {row["password_hash"] for row in sqlite_tables(source)["users"]}
    assert not any(hash_ in export.read_text() for hash_ in stored)

    # Imported, the members exist but cannot sign in (refused, not an error).
    target = f"sqlite://{tmp_path / 'public.sqlite3'}"
    ok(forum(target, "import", str(export)))
    process, live = start_server(target, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            refused = await client.post(
                "/api/session", json={"username": seeded.alice, "password": PASSWORD}
            )
            thread = await client.get(f"/api/articles/{SLUG}/replies")
    finally:
        stop_server(process)
    assert refused.status_code in {400, 401, 422}, refused.text
    assert thread.status_code == 200


async def test_the_export_covers_every_table(seeded_sqlite: tuple[str, Seeded], tmp_path: Path):
    source, _ = seeded_sqlite
    export = tmp_path / "forum.jsonl"
    ok(forum(source, "export", str(export), "--with-secrets"))
    header = json.loads(export.read_text().splitlines()[0])
    # Every table the migrations made, every model Tortoise knows, every column of each.
    assert set(header["tables"]) == set(sqlite_tables(source))
    # The registry is read in a process of its own: initialising Tortoise here would rebind the
    # models of the session's `db` fixture.
    registry = json.loads(ok(forum_python(source, REGISTRY)))
    assert set(registry["models"]) == set(registry["registered"])
    assert set(header["tables"]) == set(registry["models"])
    with sqlite3.connect(source.removeprefix("sqlite://")) as conn:
        for table, columns in registry["models"].items():
            assert header["tables"][table]["columns"] == columns
            stored = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            assert stored == set(columns), table
    assert set(SECRET_TABLES) <= set(registry["models"])


def test_a_progress_bar_only_on_a_terminal(
    seeded_sqlite: tuple[str, Seeded], tmp_path: Path
) -> None:
    source, _ = seeded_sqlite
    piped = forum(source, "export", str(tmp_path / "piped.jsonl"))
    assert piped.returncode == 0 and piped.stderr == ""

    terminal, child_side = pty.openpty()
    env = {**os.environ, "DATABASE_URL": source, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-m", "forum", "export", str(tmp_path / "tty.jsonl")],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=child_side,
        check=False,
    )
    os.close(child_side)
    shown = b""
    with contextlib.suppress(OSError):  # EIO: the terminal's other side is closed, all is read
        while chunk := os.read(terminal, 4096):
            shown += chunk
    os.close(terminal)
    assert done.returncode == 0
    assert b"exporting" in shown and b"100%" in shown
    assert b"exporting" not in done.stdout


async def test_a_damaged_file_imports_nothing(
    seeded_sqlite: tuple[str, Seeded], tmp_path: Path
) -> None:
    source, _ = seeded_sqlite
    export = tmp_path / "forum.jsonl"
    ok(forum(source, "export", str(export), "--with-secrets"))
    lines = export.read_text().splitlines(keepends=True)
    damaged = {
        "cut short": "".join(lines[:-3]),
        "not an export": "hello\n",
        "a bad row": "".join(lines[:-1]) + '{"table": "replies", "row": {"id": "x"}}\n',
        "an unknown table": "".join(lines) + '{"table": "nope", "row": {}}\n',
    }
    for name, text in damaged.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text(text)
        target = f"sqlite://{tmp_path / (name + '.sqlite3')}"
        done = forum(target, "import", str(path))
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert done.stderr.startswith("error: "), (name, done.stderr)
        assert all(not rows for rows in sqlite_tables(target).values()), name
