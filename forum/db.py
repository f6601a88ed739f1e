"""Database connection and schema migrations (Tortoise ORM's own)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from tortoise import Tortoise
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.fields import DatetimeField
from tortoise.migrations.api import migrate
from tortoise.models import Model

from forum.settings import Settings, load_settings


def _durable(database_url: str) -> str:
    """The URL with SQLite's synchronous=FULL unless it says otherwise.

    Tortoise opens SQLite in WAL mode and leaves `synchronous` to the library's compiled-in
    default, which some builds set to NORMAL: in WAL mode that may lose the last commits (and
    so replies already answered 201) on a power cut. FULL syncs the WAL at every commit.
    """
    if not database_url.startswith("sqlite://") or "synchronous=" in database_url:
        return database_url
    return database_url + ("&" if "?" in database_url else "?") + "synchronous=FULL"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config for one database URL: our models, our migrations, UTC times, and
    commits on disk before they are acknowledged (see _durable)."""
    return {
        "connections": {"default": _durable(database_url)},
        "apps": {
            "models": {
                "models": ["models"],
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _sqlite_file(database_url: str) -> Path | None:
    """The SQLite file a URL names, or None (PostgreSQL, or an in-memory SQLite)."""
    if urlparse(database_url).scheme != "sqlite" or database_url == "sqlite://:memory:":
        return None
    return Path(database_url.removeprefix("sqlite://").split("?", 1)[0])


def _ensure_sqlite_folder(database_url: str) -> None:
    path = _sqlite_file(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


#: A second connection to the SQLite file, for lookup_models: read-only, used on the event
#: loop's own thread. None on PostgreSQL (and until the database is opened).
_lookups: sqlite3.Connection | None = None


async def migrate_database(settings: Settings) -> None:
    """Apply every pending migration; safe to run again."""
    _ensure_sqlite_folder(settings.database_url)
    try:
        await migrate(config=tortoise_config(settings.database_url))
    finally:
        # Also after a failure: an open SQLite connection would keep the process alive.
        await Tortoise.close_connections()


async def open_database(settings: Settings) -> None:
    """Connect Tortoise for the running app."""
    _ensure_sqlite_folder(settings.database_url)
    # Requests run in tasks that do not inherit the lifespan's context: the global fallback
    # (as tortoise.contrib.starlette uses) lets them find the connections.
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    open_lookups(settings.database_url)


def open_lookups(database_url: str) -> None:
    """Open lookup_models' own connection when the database is a SQLite file (open_database
    does, after the ORM's)."""
    global _lookups
    path = _sqlite_file(database_url)
    if path is None:
        return
    # timeout=0: a lookup that would wait for a lock is not made here but on the ORM's
    # connection (lookup_models), so the event loop never waits on one.
    connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA query_only = ON")
    _lookups = connection


async def ping_database() -> None:
    """Ask the database a trivial question; raises when it does not answer (/healthz)."""
    await Tortoise.get_connection("default").execute_query("SELECT 1")


async def close_database() -> None:
    """Close every connection Tortoise opened, and the lookups' own."""
    close_lookups()
    await Tortoise.close_connections()


def close_lookups() -> None:
    """Close lookup_models' own connection, if open."""
    global _lookups
    if _lookups is not None:
        _lookups.close()
        _lookups = None


ModelT = TypeVar("ModelT", bound=Model)
#: Rows select_models makes into models before it lets the event loop run others.
_ROWS_PER_TURN = 2000
_PLACEHOLDER = re.compile(r"\?")


def _dialect_sql(db: Any, sql: str, params: list[object]) -> str:
    """sql with its "?" placeholders numbered for PostgreSQL, as is for SQLite."""
    if db.capabilities.dialect != "postgres":
        return sql
    numbers = iter(range(1, len(params) + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)


async def select_models(
    model: type[ModelT], sql: str, params: list[object], extra_columns: list[str]
) -> list[ModelT]:
    """Run a hand-written SELECT of model's columns (plus extra_columns, set as attributes) on
    the connection the ORM would use now, inside a transaction too.

    For the few reads the ORM cannot express in one statement, or that run too often to pay
    for its query building. Write "?" placeholders: they are numbered for PostgreSQL here, so
    the SQL must contain no other "?".
    """
    db = model._choose_db()
    _, rows = await db.execute_query(_dialect_sql(db, sql, params), params)
    found = []
    for index, row in enumerate(rows):
        if index and index % _ROWS_PER_TURN == 0:
            await asyncio.sleep(0)  # a long result lets other requests run meanwhile, as the ORM's
        instance = _model_from_stored(model, row)
        for column in extra_columns:
            object.__setattr__(instance, column, row[column])
        found.append(instance)
    return found


async def lookup_models(model: type[ModelT], sql: str, params: list[object]) -> list[ModelT]:
    """Run a hand-written SELECT of model's columns that finds at most a row or two by an
    indexed key (a session, an article by its slug), as select_models does but, on SQLite and
    outside a transaction, synchronously on the event loop's thread.

    Such a lookup takes microseconds in SQLite itself, and far longer to hand to aiosqlite's
    thread and back (a queue, a thread switch each way and a wake-up of the loop): every request
    makes one. It reads a connection of its own, which in WAL mode sees every committed write
    and never waits for the writer. Inside a transaction, on PostgreSQL, or when SQLite answers
    busy, it runs as select_models does. Never for a scan: it blocks the loop while it runs.
    """
    db = model._choose_db()
    if _lookups is not None and not isinstance(db, TransactionalDBClient):
        try:
            rows = _lookups.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            pass  # busy (the WAL being recovered or reset): ask the ORM's connection instead
        else:
            return [_model_from_stored(model, row) for row in rows]
    return await select_models(model, sql, params, [])


def _model_from_stored(model: type[ModelT], row: Mapping[str, Any]) -> ModelT:
    """model made from a row as the database returned it, as the ORM makes one.

    The ORM parses each timestamp string SQLite stores in Python (iso8601, ~12 µs each); the
    standard library's fromisoformat reads the same strings in C (PostgreSQL's driver returns
    datetimes already). A string it refuses is left to the ORM."""
    values = dict(row)
    for column in _timestamp_columns(model):
        if isinstance(text := values.get(column), str):
            with contextlib.suppress(ValueError):
                values[column] = datetime.fromisoformat(text)
    return model._init_from_db(**values)


@functools.cache
def _timestamp_columns(model: type[Model]) -> tuple[str, ...]:
    return tuple(
        column
        for column, _, field in model._meta.db_complex_fields
        if isinstance(field, DatetimeField)
    )


async def select_rows(model: type[Model], sql: str, params: list[object]) -> list[tuple[Any, ...]]:
    """Run a hand-written SELECT that reads model's table (an aggregate, say) on the connection
    the ORM would use now; its rows as tuples. Placeholders as in select_models."""
    db = model._choose_db()
    _, rows = await db.execute_query(_dialect_sql(db, sql, params), params)
    return [tuple(row) for row in rows]


async def write_returning(model: type[Model], sql: str, params: list[object]) -> list[Any]:
    """Run a hand-written INSERT, UPDATE or DELETE with a RETURNING clause on the connection
    the ORM would use now for model's table (the transaction's, inside one); its rows.

    For a change and the values it produced in one statement, where the ORM needs two. The
    "?" placeholders are as in select_models.
    """
    db = model._choose_db(for_write=True)
    rows: list[Any] = await db.execute_query_dict(_dialect_sql(db, sql, params), params)
    return rows


async def write_all_returning(
    model: type[Model], statements: list[tuple[str, list[object]]]
) -> list[dict[str, Any]]:
    """Run hand-written writes one after another, as write_returning runs one, on the
    connection the ORM would use now for model's table; the rows the last one returned.

    On SQLite in one hop to the connection's thread (in_one_hop, as forum.group_commit runs
    its statements), on PostgreSQL one round trip each. For writes that always go together on
    a hot path; no statement may need a value an earlier one returned (read it in SQL).
    """
    db = model._choose_db(for_write=True)
    if db.capabilities.dialect != "sqlite":
        rows: list[dict[str, Any]] = []
        for sql, params in statements:
            rows = await db.execute_query_dict(_dialect_sql(db, sql, params), params)
        return rows
    async with db.acquire_connection() as connection:
        try:
            return await in_one_hop(connection, statements)
        except sqlite3.IntegrityError as error:
            raise IntegrityError(error) from error
        except sqlite3.OperationalError as error:
            raise OperationalError(error) from error


#: Rows per INSERT statement of insert_rows (well under either database's bound on parameters).
_ROWS_PER_INSERT = 500


def insert_sql(model: type[Model], columns: list[str], rows: int = 1) -> str:
    """A hand-written INSERT of rows rows into model's table, with "?" placeholders for
    columns, which must be every column but the primary key (ValueError otherwise): the ORM's
    defaults are applied by the ORM, not by the database, so none may be left out."""
    expected = set(model._meta.fields_db_projection.values()) - {model._meta.db_pk_column}
    if set(columns) != expected or len(columns) != len(expected):
        raise ValueError(f"rows for {model.__name__} must give exactly {sorted(expected)}")
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    return (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)})"
        f" VALUES {', '.join([placeholders] * rows)}"
    )


async def insert_rows(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Insert rows into model's table with hand-written multi-row INSERTs (insert_sql), on the
    connection the ORM would use now (the transaction's, inside one).

    For bulk writes on a hot path (a reply's notifications and mail), where bulk_create builds
    a model and then its SQL through pypika for every row. Each row gives every column but the
    primary key, with the values the database stores (enum values, not enums).
    """
    if not rows:
        return
    columns = list(rows[0])
    db = model._choose_db(for_write=True)
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        params = [row[column] for row in chunk for column in columns]
        sql = insert_sql(model, columns, len(chunk))
        await db.execute_query_dict(_dialect_sql(db, sql, params), params)


async def in_one_hop(
    connection: Any, statements: list[tuple[str, list[object]]]
) -> list[dict[str, Any]]:
    """Run statements one after another on an aiosqlite connection's own thread, in one hop to
    it; the rows the last one returned. aiosqlite runs every call of a connection on one thread,
    each call a thread switch each way; _execute is how it runs a function there."""
    raw: sqlite3.Connection = connection._conn

    def execute() -> list[dict[str, Any]]:
        found: list[Any] = []
        for sql, params in statements:
            found = raw.execute(sql, params).fetchall()
        return [dict(row) for row in found]

    rows: list[dict[str, Any]] = await connection._execute(execute)
    return rows


def epoch_seconds_sql(model: type[Model], column: str) -> str:
    """SQL for a timestamp column of model's table in whole seconds since the epoch, in the
    dialect of the database the model lives in."""
    if model._meta.db.capabilities.dialect == "postgres":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def model_from_row(model: type[ModelT], **values: Any) -> ModelT:
    """An instance of model made from values read by a hand-written statement, as the ORM
    makes one from a row (no query)."""
    return model._init_from_db(**values)


def __getattr__(name: str) -> Any:
    # TORTOISE_ORM is for the `tortoise` command line (makemigrations, migrate, history; see
    # pyproject.toml), built when it asks: importing this module reads no settings.
    if name == "TORTOISE_ORM":
        return tortoise_config(load_settings().database_url)
    raise AttributeError(name)
