"""Group commit for SQLite: the writes that arrive while a commit is in flight share the next one.

SQLite has one writer, and with synchronous=FULL each commit waits for an fsync of the WAL. One
transaction per request makes the fsync the rate of every write path. Here, transactions that
queue up while one group is being written run one after another inside ONE database
transaction, each in its own SAVEPOINT, and are made durable by one COMMIT (one fsync):

- a member whose work raises is rolled back to its savepoint, alone, and gets its own error at
  once (a duplicate, a locked thread): the others are untouched;
- a member that succeeded returns from its block only once the group's COMMIT has returned, so
  nothing is acknowledged, and no event dispatched, before it is on disk; if the COMMIT fails,
  every member of the group gets the error;
- members run strictly one at a time, so each sees the writes of those before it (the thread's
  stream positions stay consecutive, the duplicate guards see earlier posts).

The group holds the SQLite client's own lock (the one Tortoise's transactions and queries take)
from BEGIN to COMMIT, so nothing else uses the connection meanwhile. PostgreSQL commits
concurrently on a pool and keeps one transaction per request (forum.events).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError

from forum.db import in_one_hop

log = logging.getLogger("forum.group_commit")

#: Most members in one group: a bound on how long a group holds the connection.
MAX_GROUP = 64
_SAVEPOINT = "group_member"


class GroupLost(OperationalError):
    """SQLite rolled the group's transaction back (a disk or memory error in a member's
    statement): the members written before it are not committed."""


class _Member:
    """One transaction waiting for, or taking, its turn in a group."""

    __slots__ = ("committed", "finished", "turn")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        #: Set by the leader: the group's connection, the member may write now.
        self.turn: asyncio.Future[SqliteTransactionWrapper] = loop.create_future()
        #: Set by the member: True when its work succeeded, False when it raised.
        self.finished: asyncio.Future[bool] = loop.create_future()
        #: Set by the leader once the group's COMMIT returned (or failed).
        self.committed: asyncio.Future[None] = loop.create_future()


class GroupCommit:
    """Transactions on one SQLite client, committed in groups (see the module's docstring)."""

    def __init__(self, client: SqliteClient, *, max_group: int = MAX_GROUP) -> None:
        #: The client whose connection the groups write on.
        self.client = client
        self._max_group = max_group
        self._queue: collections.deque[_Member] = collections.deque()
        self._leader: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A block whose writes commit with its group's; returns once they are durable and
        raises whatever the block raised (its writes undone) or the group's COMMIT raised."""
        member = _Member(asyncio.get_running_loop())
        self._queue.append(member)
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead(), name="sqlite group commit")
        try:
            wrapper = await member.turn
        except asyncio.CancelledError:
            # Given its turn as it was cancelled: the leader must not wait for it.
            if member.turn.done() and not member.turn.cancelled():
                member.finished.set_result(False)
            raise
        token = get_connections().set(self.client.connection_name, wrapper)
        try:
            yield
        except BaseException:
            member.finished.set_result(False)
            raise
        finally:
            get_connections().reset(token)
            if not member.finished.done():
                member.finished.set_result(True)
        # Shielded: a request cancelled now leaves the group's commit alone.
        await asyncio.shield(member.committed)

    async def _lead(self) -> None:
        """Run groups while members are waiting."""
        client = self.client
        try:
            while self._queue:
                async with client.acquire_connection() as connection:
                    await self._run_group(connection)
        except BaseException as error:
            # Cancelled (shutdown) or the connection broke before a group began.
            while self._queue:
                member = self._queue.popleft()
                if not member.turn.done():
                    member.turn.set_exception(
                        error if isinstance(error, Exception) else OperationalError("shut down")
                    )
            raise

    async def _run_group(self, connection: Any) -> None:
        """BEGIN, each waiting member in its savepoint, COMMIT; members learn how it ended."""
        wrapper = SqliteTransactionWrapper(self.client)
        done: list[_Member] = []
        # BEGIN goes with the first member's SAVEPOINT, in one hop to the connection's thread.
        begin: tuple[str, ...] = ("BEGIN",)
        try:
            while self._queue and len(done) < self._max_group:
                member = self._queue.popleft()
                if member.turn.done():  # cancelled while it waited
                    continue
                await _run(connection, *begin, f"SAVEPOINT {_SAVEPOINT}")
                begin = ()
                member.turn.set_result(wrapper)
                succeeded = await member.finished
                if not connection.in_transaction:
                    if succeeded:
                        done.append(member)
                    raise GroupLost("the group's transaction was rolled back by SQLite")
                if succeeded:
                    # Its savepoint is left on the stack (COMMIT ends them all): one hop less
                    # per member, and the next member's savepoint of the same name is the one
                    # a rollback goes to.
                    done.append(member)
                else:
                    await _run(connection, f"ROLLBACK TO {_SAVEPOINT}", f"RELEASE {_SAVEPOINT}")
            if not begin:  # else every member had gone: nothing was begun
                await _run(connection, "COMMIT")
        except BaseException as error:
            if connection.in_transaction:
                try:
                    await _run(connection, "ROLLBACK")
                except Exception:
                    log.exception("could not roll back a failed group")
            failure = error if isinstance(error, Exception) else OperationalError("cancelled")
            for member in done:
                member.committed.set_exception(failure)
                # Retrieved here too: a member cancelled meanwhile must not log it as lost.
                member.committed.exception()
            if isinstance(error, GroupLost):
                return
            raise
        for member in done:
            member.committed.set_result(None)


async def _run(connection: Any, *statements: str) -> None:
    """Execute statements without parameters on the connection's thread, in one hop to it."""
    await in_one_hop(connection, [(statement, []) for statement in statements])
