"""The orders of a thread's top-level replies and the cursors that page through them.

"top" ranks each reply by its creation time plus VOTE_SECONDS per standing up-vote, at a frozen
moment, so that paging is exact while votes change (docs/ranking.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from forum.boundary import ID_MAX, parse_whole
from forum.db import epoch_seconds_sql
from forum.validation import ValidationError
from models import Reply

#: What a bad order is told.
ORDER_MESSAGE = "order must be 'newest', 'oldest' or 'top'."
#: What one standing up-vote is worth in the "top" order, in seconds of youth (docs/ranking.md).
VOTE_SECONDS = 3600
#: A "top" cursor: the frozen moment (microseconds), then the last reply's rank and id.
_TOP_CURSOR = re.compile(r"^([0-9]{1,18})\.(-?[0-9]{1,18})\.([0-9]{1,18})$")


class Order(StrEnum):
    """Order of the top-level replies; children always read oldest first."""

    NEWEST = "newest"
    OLDEST = "oldest"
    #: Most up-voted first, weighed against age (docs/ranking.md).
    TOP = "top"


@dataclass(frozen=True)
class TopCursor:
    """Where a "top" chunk starts: after (rank, reply_id), ranks as they stood at moment_us.

    Ranks are computed from the votes standing at that moment (votes keep their history), so
    they cannot change between chunks however the votes change: no reply is shown twice or
    skipped while paging.
    """

    moment_us: int
    rank: int | None = None
    reply_id: int | None = None

    def __str__(self) -> str:
        return f"{self.moment_us}.{self.rank}.{self.reply_id}"


#: A position in a level of the thread: a reply id (newest, oldest) or a TopCursor.
Cursor = int | TopCursor


def rank_sql(alias: str) -> str:
    """SQL for a reply's rank in the "top" order at a moment (two "?": the moment twice): its
    votes standing then, each worth VOTE_SECONDS, plus its creation time (docs/ranking.md)."""
    standing = (
        f"(SELECT COUNT(*) FROM reply_votes v WHERE v.reply_id = {alias}.id AND v.voted_us <= ?"
        " AND (v.retracted_us IS NULL OR v.retracted_us > ?))"
    )
    return f"({standing} * {VOTE_SECONDS} + {epoch_seconds_sql(Reply, f'{alias}.created_at')})"


def parse_order(value: str | None) -> Order:
    """The requested order (newest by default), or ValidationError."""
    try:
        return Order(value or Order.NEWEST)
    except ValueError:
        raise ValidationError({"order": ORDER_MESSAGE}) from None


def parse_position(value: str | None, order: Order, name: str = "cursor") -> Cursor | None:
    """A top-level cursor from a query string: a TopCursor in the top order, else a reply id."""
    if order is not Order.TOP:
        return parse_cursor(value, name)
    if value is None or value == "":
        return None
    match = _TOP_CURSOR.match(value)
    if match is None:
        raise ValidationError({name: f"{name} is not a valid position in the thread."})
    moment, rank, reply_id = (int(part) for part in match.groups())
    return TopCursor(moment, rank, reply_id)


def parse_cursor(value: str | None, name: str = "cursor") -> int | None:
    """A cursor from a query string: the id of the last reply already shown (0: none yet)."""
    if value is None or value == "":
        return None
    position = parse_whole(value, 0, ID_MAX)
    if position is None:
        raise ValidationError({name: f"{name} is not a valid position in the thread."})
    return position or None
