"""An acknowledged reply survives a crash: several clients post at once, the server is killed
with SIGKILL in the middle of the burst, and after a restart on the same database every reply
that was answered 201 is there (README: "Durability").

SQLite with the forum's default settings (WAL, synchronous=FULL); PostgreSQL too when reachable.
A killed process tests what the server promises before it answers; a power cut additionally
depends on the disk honouring fsync, which no test here can pull the plug on.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    PROJECT_ROOT,
    SLUG,
    Member,
    own_postgres_database,
    sign_up,
    start_server,
)

CLIENTS = 6
#: The server is killed once this many replies were acknowledged; others are in flight then.
KILL_AFTER = 60


@pytest.fixture(params=["sqlite", "postgres"])
def crash_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own for the server this test kills."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'crash.sqlite3'}"
        return
    with own_postgres_database("forum_crash") as url:
        yield url


async def burst(members: list[Member], killed: asyncio.Event, kill: object) -> dict[int, str]:
    """Every member posts until the server is gone; the replies acknowledged with 201."""
    acknowledged: dict[int, str] = {}

    async def post_until_gone(member: Member) -> None:
        number = 0
        while True:
            number += 1
            body = f"{member.username} reply {number}"
            try:
                response = await member.post_reply(body)
            except httpx.TransportError:
                assert killed.is_set(), "the server went away before it was killed"
                return
            assert response.status_code == 201, response.text
            acknowledged[int(response.json()["id"])] = body
            if len(acknowledged) >= KILL_AFTER and not killed.is_set():
                killed.set()
                kill()  # type: ignore[operator]

    await asyncio.gather(*(post_until_gone(member) for member in members))
    return acknowledged


SQLITE_SETTINGS = """
import asyncio, json, os
from tortoise import Tortoise
from forum.db import tortoise_config

async def main():
    await Tortoise.init(config=tortoise_config(os.environ["DATABASE_URL"]))
    try:
        db = Tortoise.get_connection("default")
        mode = await db.execute_query_dict("PRAGMA journal_mode")
        sync = await db.execute_query_dict("PRAGMA synchronous")
        print(json.dumps([mode[0]["journal_mode"], sync[0]["synchronous"]]))
    finally:
        await Tortoise.close_connections()

asyncio.run(main())
"""


def sqlite_settings(database_url: str) -> list[object]:
    """journal_mode and synchronous of a connection opened as the forum opens one."""
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_SETTINGS],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout))


async def test_no_acknowledged_reply_is_lost_when_the_server_is_killed(
    crash_database: str, tmp_path: Path
) -> None:
    process, live = start_server(crash_database, tmp_path)
    members: list[Member] = []
    try:
        members = [await sign_up(live) for _ in range(CLIENTS)]
        killed = asyncio.Event()
        acknowledged = await burst(members, killed, process.kill)  # SIGKILL: no shutdown at all
    finally:
        process.kill()
        process.wait()
        for member in members:
            await member.client.aclose()
    assert killed.is_set() and len(acknowledged) >= KILL_AFTER

    process, live = start_server(crash_database, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            missing = []
            for reply_id, body in sorted(acknowledged.items()):
                found = await client.get(f"/api/replies/{reply_id}")
                if found.status_code != 200 or body not in found.json()["body_html"]:
                    missing.append(reply_id)
            article = await client.get(f"/api/articles/{SLUG}")
    finally:
        process.terminate()
        process.wait()
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged replies lost"
    # The count kept beside the replies committed with them: at least every acknowledged one
    # (a reply committed as the server died, before its answer left, counts too).
    assert article.json()["reply_count"] >= len(acknowledged)
    if crash_database.startswith("sqlite"):
        assert sqlite_settings(crash_database) == ["wal", 2]  # 2: FULL
