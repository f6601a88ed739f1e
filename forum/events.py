"""The event bus: services say what happened; features react, without importing each other.

A service opens `bus.transaction()` and emits small typed events (forum.event_types) while it
writes. Two kinds of subscriber, all registered in one place (forum.app.create_app):

- *hooks* run inside the transaction, as each event is emitted, for work that must commit or
  roll back with the change: the thread's event stream, notification and outbox rows. A hook
  may complete the event (give it its stream position) and emit further events.
- *handlers* run after the transaction has committed, never if it rolled back: live pages,
  bells, the moderators' queue, the mail sender. A handler that fails is logged with the event;
  the write it follows has committed and its response stands.

Modelled on datasette's events-after-commit and encode/broadcaster's small interface.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from tortoise import Tortoise
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.transactions import in_transaction

from forum.group_commit import GroupCommit

log = logging.getLogger("forum.events")


class Event:
    """Base of every event type (each a frozen dataclass in forum.event_types)."""


EventT = TypeVar("EventT", bound=Event)
#: Runs inside the transaction; returns the event completed (or None to keep it as it is).
Hook = Callable[[Any, "Transaction"], Awaitable[Event | None]]
#: Runs after commit.
Handler = Callable[[Any], Awaitable[None]]


class Transaction:
    """The events of one database transaction, emitted as the service writes."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.events: list[Event] = []

    async def emit(self, event: EventT) -> EventT:
        """Record event: its hooks run now, inside the transaction; its handlers after commit.
        Returns the event as the hooks completed it."""
        for hook in self._bus.hooks_for(event):
            completed = await hook(event, self)
            if completed is not None:
                assert type(completed) is type(event)
                event = completed
        self.events.append(event)
        return event


class EventBus:
    """Subscribers by event type; a subscriber of a base type gets its subtypes too."""

    def __init__(self) -> None:
        self._hooks: list[tuple[type[Event], Hook]] = []
        self._handlers: list[tuple[type[Event], Handler]] = []
        #: The SQLite client's group commit, made at the first transaction on it.
        self._group: GroupCommit | None = None

    def hook(self, event_type: type[EventT], hook: Hook) -> None:
        """Run hook inside the transaction whenever an event of this type is emitted."""
        self._hooks.append((event_type, hook))

    def subscribe(self, event_type: type[EventT], handler: Handler) -> None:
        """Run handler after commit for every event of this type."""
        self._handlers.append((event_type, handler))

    def hooks_for(self, event: Event) -> list[Hook]:
        """The hooks an event runs, in the order they were registered."""
        return [hook for kind, hook in self._hooks if isinstance(event, kind)]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A database transaction whose events are dispatched once it has committed.

        On SQLite it commits with the others that queue meanwhile (forum.group_commit); inside
        another transaction it is a savepoint of that one.
        """
        collected = Transaction(self)
        async with self._database_transaction():
            yield collected
        await self.dispatch(*collected.events)

    def _database_transaction(self) -> AbstractAsyncContextManager[Any]:
        client = Tortoise.get_connection("default")
        if isinstance(client, SqliteClient) and not isinstance(client, TransactionalDBClient):
            if self._group is None or self._group.client is not client:
                # A new client when the database was opened again (tests do, under one bus).
                self._group = GroupCommit(client)
            return self._group.transaction()
        return in_transaction()

    async def dispatch(self, *events: Event) -> None:
        """Hand committed events (or events of no transaction) to their handlers, in order.
        A handler that raises is logged and the others still run."""
        for event in events:
            for kind, handler in self._handlers:
                if not isinstance(event, kind):
                    continue
                try:
                    await handler(event)
                except Exception:
                    log.exception("handler %s failed on %r", _name(handler), event)


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", repr(handler))
