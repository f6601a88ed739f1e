"""The thread's event stream: each thread event takes the next position of its article's
stream inside the transaction of the change (a hook of the event bus), so that pages catch up
from the database in commit order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from forum.db import write_returning
from forum.event_types import ThreadEvent
from forum.events import Transaction
from models import Article, LiveEvent


async def record_in_stream(event: ThreadEvent, tx: Transaction) -> ThreadEvent:
    """Append event to its article's stream and move the article's reply count by the event's
    change; the event, completed with its position.

    Both counters are on the article's row and change in one UPDATE, which locks the row until
    commit: concurrent writers to one thread get consecutive numbers in commit order, and a
    reply count that stays the number of visible replies.
    """
    rows = await write_returning(
        Article,
        "UPDATE articles SET last_seq = last_seq + 1, reply_count = reply_count + ?"
        " WHERE id = ? RETURNING last_seq",
        [event.reply_count_change, event.article_id],
    )
    seq = int(rows[0]["last_seq"])
    # Written by hand, as the UPDATE: every write to a thread runs both.
    await write_returning(
        LiveEvent,
        "INSERT INTO live_events (article_id, seq, kind, reply_id, created_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        [event.article_id, seq, event.kind.value, event.reply_id, datetime.now(UTC)],
    )
    return dataclasses.replace(event, seq=seq)
