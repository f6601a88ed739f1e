"""Thread events: appended to the article's stream inside the write's transaction, published
only after that transaction has committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from tortoise.transactions import in_transaction

from forum.db import write_returning
from models import Article, EventKind, LiveEvent


@dataclass(frozen=True)
class ThreadEvent:
    """A change to one reply, at a position of its article's stream."""

    article_id: int
    seq: int
    kind: EventKind
    reply_id: int


class EventPublisher(Protocol):
    """Whatever delivers committed events (the live thread publisher, or a test's recorder)."""

    async def publish(self, events: list[ThreadEvent]) -> None:
        """Deliver events that have been committed."""


async def record_event(
    article_id: int, kind: EventKind, reply_id: int, *, reply_count_change: int = 0
) -> ThreadEvent:
    """Append an event to the article's stream; call inside the transaction of the change,
    with the change it made to the count of replies readers see (forum.visibility's
    counted_change of the reply's status before and after, when it really changed it).

    Both counters are on the article's row and change in one UPDATE, which locks the row until
    commit: concurrent writers to one thread get consecutive numbers in commit order, and a
    reply count that stays the number of visible replies.
    """
    rows = await write_returning(
        Article,
        "UPDATE articles SET last_seq = last_seq + 1, reply_count = reply_count + ?"
        " WHERE id = ? RETURNING last_seq",
        [reply_count_change, article_id],
    )
    seq = rows[0]["last_seq"]
    await LiveEvent.create(article_id=article_id, seq=seq, kind=kind, reply_id=reply_id)
    return ThreadEvent(article_id=article_id, seq=int(seq), kind=kind, reply_id=reply_id)


@asynccontextmanager
async def committed(publisher: EventPublisher) -> AsyncIterator[list[ThreadEvent]]:
    """A transaction whose collected events are published once it has committed (never if not)."""
    events: list[ThreadEvent] = []
    async with in_transaction():
        yield events
    await publisher.publish(events)
