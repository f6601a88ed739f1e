"""The floor of bench/write.py: a bare Starlette app whose only work per post is the insert.

POST /new with JSON {"body": ...} inserts one row into a SQLite file through aiosqlite (one
connection, as the forum's), each post in its own transaction committed before the 201: WAL,
synchronous=FULL, the forum's durability. No session, CSRF, sanitising, stream or events. So the
bench can tell what HTTP, uvicorn and one durable SQLite insert cost on this machine from what
the forum adds. Served by uvicorn like the forum: `uvicorn --app-dir bench insert_app:app`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
from starlette.applications import Starlette
from starlette.config import Config
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

config = Config()
DATABASE = config("BASELINE_DATABASE", default="insert-baseline.sqlite3")

_db: aiosqlite.Connection | None = None
_lock = asyncio.Lock()


async def new(request: Request) -> JSONResponse:
    """POST /new: insert the body, commit, 201 with its id."""
    body = (await request.json())["body"]
    assert _db is not None
    async with _lock:  # one writer, one transaction at a time, as Tortoise's SQLite client
        await _db.execute("BEGIN")
        cursor = await _db.execute("INSERT INTO posts (body) VALUES (?)", (body,))
        await _db.commit()
    return JSONResponse({"id": cursor.lastrowid}, status_code=201)


async def ready(request: Request) -> JSONResponse:
    """GET /ready: 200 once the database is open."""
    return JSONResponse({"ok": _db is not None})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global _db
    _db = await aiosqlite.connect(DATABASE, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL"):
        await _db.execute(f"PRAGMA {pragma}")
    await _db.execute("CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, body TEXT)")
    yield
    await _db.close()


app = Starlette(
    routes=[Route("/new", new, methods=["POST"]), Route("/ready", ready)], lifespan=lifespan
)
