"""Export the whole forum to one JSON Lines file and import it into another database (SQLite or
PostgreSQL), keeping every id, count and sequence number.

The tables come from Tortoise's registry (every model of the `models` app), so a new model is
exported without a change here. The file is a header line, then one line per row:

    {"format": "forum-export", "version": 1, "secrets": false, "tables": {table: {...}}}
    {"table": "replies", "row": {"id": 7, "article_id": 1, ...}}

Rows keep their ids: permalinks (`#r7`) and the live stream's `seq` survive the move. After an
import the id sequences are set past the highest id the source ever handed out, so the next
insert gets a new id instead of colliding (or reusing a deleted reply's permalink).
"""

from __future__ import annotations

import datetime
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from tortoise import Tortoise, fields
from tortoise.exceptions import BaseORMException
from tortoise.models import Model
from tortoise.transactions import in_transaction

FORMAT = "forum-export"
VERSION = 1
#: Rows read or written per statement: bounded memory on a large forum.
BATCH = 500
#: Columns that let someone act as a member: left out unless asked for (`--with-secrets`).
SECRET_COLUMNS = {"users": {"password_hash": "", "feed_token": None}}
#: Tables made only of secrets: skipped whole unless asked for.
SECRET_TABLES = {"sessions"}


class TransferError(Exception):
    """The file or the target database does not allow the transfer; nothing was written."""


class Progress(Protocol):
    """Told how far a transfer is: total rows once, then rows done as they go."""

    def start(self, total: int) -> None: ...

    def advance(self, rows: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Progress that shows nothing (not on a terminal, tests)."""

    def start(self, total: int) -> None:
        """Nothing to show."""

    def advance(self, rows: int) -> None:
        """Nothing to show."""

    def finish(self) -> None:
        """Nothing to show."""


@dataclass(frozen=True)
class Summary:
    """What a transfer moved: rows per table."""

    rows: dict[str, int]
    secrets: bool


def forum_models() -> list[type[Model]]:
    """Every model of the forum, parents before the tables that point to them."""
    registered = list(Tortoise.apps["models"].values())
    ordered: list[type[Model]] = []

    def visit(model: type[Model], path: tuple[type[Model], ...]) -> None:
        if model in ordered:
            return
        if model in path:
            raise TransferError(f"foreign keys form a cycle through {model._meta.db_table}")
        for name in model._meta.fk_fields:
            related = model._meta.fields_map[name].related_model  # type: ignore[attr-defined]
            if related is not model:  # a self-reference is ordered by id instead
                visit(related, (*path, model))
        ordered.append(model)

    for model in sorted(registered, key=lambda m: m._meta.db_table):
        visit(model, ())
    return ordered


def columns_of(model: type[Model]) -> list[str]:
    """The model's stored fields (foreign keys by their `*_id` field), in declaration order."""
    return list(model._meta.fields_db_projection)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _decoder(model: type[Model], column: str) -> Callable[[Any], Any]:
    field = model._meta.fields_map[column]
    if isinstance(field, fields.DatetimeField):
        return lambda value: None if value is None else datetime.datetime.fromisoformat(value)
    enum_type = getattr(field, "enum_type", None)
    if enum_type is not None:
        return lambda value: None if value is None else enum_type(value)
    return lambda value: value


async def _last_id(db: Any, model: type[Model]) -> int:
    """The highest id this table ever handed out (its sequence), at least its highest id now."""
    table = model._meta.db_table
    pk = model._meta.db_pk_column
    rows = await db.execute_query_dict(f'SELECT MAX("{pk}") AS top FROM "{table}"')
    top = int(rows[0]["top"] or 0)
    if db.capabilities.dialect == "postgres":
        sequence = await db.execute_query_dict(
            "SELECT pg_get_serial_sequence($1, $2) AS name", [f'"{table}"', pk]
        )
        if sequence[0]["name"]:
            state = await db.execute_query_dict(
                f"SELECT last_value, is_called FROM {sequence[0]['name']}"
            )
            if state[0]["is_called"]:
                top = max(top, int(state[0]["last_value"]))
    elif db.capabilities.dialect == "sqlite":
        # AUTOINCREMENT tables remember their highest id in sqlite_sequence.
        found = await db.execute_query_dict(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", [table]
        )
        if found:
            top = max(top, int(found[0]["seq"]))
    return top


async def _set_last_id(db: Any, model: type[Model], last_id: int) -> None:
    """Make the table's next generated id come after last_id (and after every row in it)."""
    table = model._meta.db_table
    pk = model._meta.db_pk_column
    if not model._meta.fields_map[model._meta.pk_attr].generated:
        return
    if db.capabilities.dialect == "postgres":
        await db.execute_query(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{pk}'), "
            f'GREATEST($1, (SELECT COALESCE(MAX("{pk}"), 0) FROM "{table}"), 1), '
            f'$1 > 0 OR EXISTS (SELECT 1 FROM "{table}"))',
            [last_id],
        )
    elif db.capabilities.dialect == "sqlite":
        await db.execute_query("DELETE FROM sqlite_sequence WHERE name = ?", [table])
        await db.execute_query(
            f'INSERT INTO sqlite_sequence (name, seq) SELECT ?, MAX(?, COALESCE(MAX("{pk}"), 0)) '
            f'FROM "{table}"',
            [table, last_id],
        )


async def export_forum(
    out: IO[str], *, with_secrets: bool = False, progress: Progress | None = None
) -> Summary:
    """Write every row of the connected database to out, in one consistent snapshot."""
    progress = progress or NoProgress()
    models = [m for m in forum_models() if with_secrets or m._meta.db_table not in SECRET_TABLES]
    async with in_transaction() as conn:
        if conn.capabilities.dialect == "postgres":
            # One snapshot for every table, or a reply could be exported without its events.
            await conn.execute_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        tables: dict[str, dict[str, Any]] = {}
        for model in models:
            tables[model._meta.db_table] = {
                "rows": await model.all().using_db(conn).count(),
                "last_id": await _last_id(conn, model),
                "columns": columns_of(model),
            }
        header = {"format": FORMAT, "version": VERSION, "secrets": with_secrets, "tables": tables}
        out.write(json.dumps(header) + "\n")
        progress.start(sum(table["rows"] for table in tables.values()))
        written: dict[str, int] = {}
        for model in models:
            table = model._meta.db_table
            columns = columns_of(model)
            hidden = {} if with_secrets else SECRET_COLUMNS.get(table, {})
            pk = model._meta.pk_attr
            after: Any = None
            written[table] = 0
            while True:
                query = model.all().using_db(conn).order_by(pk).limit(BATCH)
                if after is not None:
                    query = query.filter(**{f"{pk}__gt": after})
                batch = await query.values(*columns)
                if not batch:
                    break
                for row in batch:
                    encoded = {column: _encode(row[column]) for column in columns}
                    encoded.update(hidden)
                    out.write(json.dumps({"table": table, "row": encoded}) + "\n")
                written[table] += len(batch)
                after = batch[-1][pk]
                progress.advance(len(batch))
    progress.finish()
    return Summary(written, with_secrets)


def read_header(line: str) -> dict[str, Any]:
    """The header of an export file, checked against this forum's models."""
    try:
        header = json.loads(line)
    except json.JSONDecodeError as error:
        raise TransferError(f"not a forum export: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise TransferError("not a forum export (no forum-export header line)")
    if header.get("version") != VERSION:
        raise TransferError(f"export format version {header.get('version')} is not {VERSION}")
    known = {model._meta.db_table: model for model in forum_models()}
    for table, info in header["tables"].items():
        if table not in known:
            raise TransferError(f"the file has a table this forum does not know: {table}")
        missing = set(columns_of(known[table])) - set(info["columns"])
        extra = set(info["columns"]) - set(columns_of(known[table]))
        if missing or extra:
            raise TransferError(
                f"{table}: the file's columns differ from this forum's "
                f"(missing {sorted(missing)}, unknown {sorted(extra)}); "
                "export and import with the same version of the forum"
            )
    return header


async def _is_empty(conn: Any, models: list[type[Model]]) -> bool:
    for model in models:
        if await model.exists():
            return False
    return True


async def import_forum(
    source: IO[str], *, replace: bool = False, progress: Progress | None = None
) -> Summary:
    """Load an export into the connected (migrated) database, in one transaction.

    Refuses a database that holds any row unless replace, which empties it first.
    """
    progress = progress or NoProgress()
    header = read_header(source.readline())
    models = forum_models()
    by_table = {model._meta.db_table: model for model in models}
    decoders = {
        table: {column: _decoder(by_table[table], column) for column in info["columns"]}
        for table, info in header["tables"].items()
    }
    counts = {table: 0 for table in header["tables"]}
    progress.start(sum(info["rows"] for info in header["tables"].values()))
    async with in_transaction() as conn:
        if not replace and not await _is_empty(conn, models):
            raise TransferError("the database is not empty (use --replace to overwrite it)")
        if replace:
            for model in reversed(models):
                await model.all().using_db(conn).delete()
        pending: list[Model] = []
        pending_model: type[Model] | None = None

        async def flush() -> None:
            if pending_model is not None and pending:
                try:
                    await pending_model.bulk_create(pending, batch_size=BATCH, using_db=conn)
                except (BaseORMException, ValueError, TypeError) as error:
                    table = pending_model._meta.db_table
                    raise TransferError(f"{table}: the database refused a row: {error}") from None
                progress.advance(len(pending))
                pending.clear()

        for number, line in enumerate(source, start=2):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                table, row = item["table"], item["row"]
                model = by_table[table]
                values = {column: decoders[table][column](row[column]) for column in row}
                instance = model(**values)
            except BaseORMException as error:
                raise TransferError(f"line {number}: {error}") from None
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                message = f"line {number}: not a row of a known table ({error})"
                raise TransferError(message) from None
            if model is not pending_model or len(pending) >= BATCH:
                await flush()
                pending_model = model
            pending.append(instance)
            counts[table] += 1
        await flush()
        for table, info in header["tables"].items():
            if counts[table] != info["rows"]:
                raise TransferError(
                    f"{table}: the file holds {counts[table]} rows, its header says {info['rows']}"
                )
            await _set_last_id(conn, by_table[table], int(info["last_id"]))
    progress.finish()
    return Summary(counts, bool(header["secrets"]))
