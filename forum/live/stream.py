"""The thread's event stream: each thread event takes the next position of its article's
stream inside the transaction of the change (a hook of the event bus), so that pages catch up
from the database in commit order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from forum.db import write_all_returning
from forum.event_types import ThreadEvent
from forum.events import Transaction
from models import LiveEvent


async def record_in_stream(event: ThreadEvent, tx: Transaction) -> ThreadEvent:
    """Append event to its article's stream and move the article's reply count by the event's
    change; the event, completed with its position.

    Both counters are on the article's row and change in one UPDATE, which locks the row until
    commit: concurrent writers to one thread get consecutive numbers in commit order, and a
    reply count that stays the number of visible replies.
    """
    # Both in one go (every write to a thread runs them): the event's position is read back
    # from the row the UPDATE moved.
    rows = await write_all_returning(
        LiveEvent,
        [
            (
                "UPDATE articles SET last_seq = last_seq + 1, reply_count = reply_count + ?"
                " WHERE id = ?",
                [event.reply_count_change, event.article_id],
            ),
            (
                "INSERT INTO live_events (article_id, seq, kind, reply_id, created_at)"
                " SELECT id, last_seq, ?, ?, ? FROM articles WHERE id = ? RETURNING seq",
                [event.kind.value, event.reply_id, datetime.now(UTC), event.article_id],
            ),
        ],
    )
    seq = int(rows[0]["seq"])
    return dataclasses.replace(event, seq=seq)
