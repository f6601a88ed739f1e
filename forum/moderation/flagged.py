"""Reading the moderators' queue: replies with open flags, most-flagged first, by page (the
page) or from a cursor (the API), and how many there are in all."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tortoise.expressions import Q
from tortoise.functions import Count, Max

from forum.accounts.standing import require_moderator
from forum.validation import ValidationError
from models import Flag, Reply, User

#: Flagged replies on one page of the moderators' queue (and the API's default chunk).
QUEUE_PAGE = 50
#: The most the API hands out at once.
QUEUE_LIMIT_MAX = 200

CURSOR_PATTERN = r"^([0-9]{1,9}\.[0-9]{1,10}\.[0-9]{1,10})?$"
CURSOR_MESSAGE = "cursor is not a position in the queue."


@dataclass(frozen=True)
class FlaggedReply:
    """A reply in the moderators' queue."""

    reply: Reply
    flag_count: int
    reasons: list[str]
    #: Its newest open flag's id: with flag_count and the reply's id, its place in the order.
    newest_flag: int = 0

    @property
    def position(self) -> QueuePosition:
        """Where this item stands in the queue's order (the cursor after it)."""
        return QueuePosition(self.flag_count, self.newest_flag, self.reply.id)


@dataclass(frozen=True)
class QueuePosition:
    """A place in the queue's order: most flags first, then the newest flagged, then reply id.

    Positions are taken by value, not by offset, so that items handled while a moderator pages
    through do not make the next chunk skip others."""

    flag_count: int
    newest_flag: int
    reply_id: int

    def __str__(self) -> str:
        return f"{self.flag_count}.{self.newest_flag}.{self.reply_id}"

    @classmethod
    def parse(cls, text: str | None) -> QueuePosition | None:
        """A cursor as the API gave it; None (from the start) when empty."""
        if not text:
            return None
        if not re.fullmatch(CURSOR_PATTERN, text):
            raise ValidationError({"cursor": CURSOR_MESSAGE})
        count, newest, reply_id = (int(part) for part in text.split("."))
        return cls(count, newest, reply_id)


async def flagged_reply_count(moderator: User | None) -> int:
    """How many replies have open flags (the queue's total)."""
    require_moderator(moderator)
    flagged = await Flag.filter(resolved_at=None).distinct().values_list("reply_id", flat=True)
    return len(flagged)


async def flag_queue(
    moderator: User | None,
    limit: int = QUEUE_PAGE,
    offset: int = 0,
    *,
    after: QueuePosition | None = None,
) -> list[FlaggedReply]:
    """Replies with open flags, most-flagged first: limit of them, after offset or after a
    position (a cursor)."""
    require_moderator(moderator)
    query = (
        Flag.filter(resolved_at=None)
        .group_by("reply_id")
        .annotate(total=Count("id"), newest=Max("id"))
    )
    if after is not None:
        # Filters on the aggregates: a HAVING clause.
        query = query.filter(
            Q(total__lt=after.flag_count)
            | Q(total=after.flag_count, newest__lt=after.newest_flag)
            | Q(total=after.flag_count, newest=after.newest_flag, reply_id__gt=after.reply_id)
        )
    rows = (
        await query.order_by("-total", "-newest", "reply_id")
        .offset(offset)
        .limit(limit)
        .values("reply_id", "total", "newest")
    )
    ids = [row["reply_id"] for row in rows]
    replies = {r.id: r for r in await Reply.filter(id__in=ids).select_related("author", "article")}
    reasons: dict[int, list[str]] = {}
    for flag in await Flag.filter(reply_id__in=ids, resolved_at=None).order_by("id"):
        reasons.setdefault(flag.reply_id, []).append(
            flag.reason.value + (f": {flag.note}" if flag.note else "")
        )
    return [
        FlaggedReply(
            replies[row["reply_id"]], row["total"], reasons.get(row["reply_id"], []), row["newest"]
        )
        for row in rows
        if row["reply_id"] in replies
    ]


async def author_totals(author_ids: set[int]) -> dict[int, int]:
    """How many flagged replies each of these authors has in the queue."""
    if not author_ids:
        return {}
    rows = (
        await Flag.filter(resolved_at=None, reply__author_id__in=author_ids)
        .distinct()
        .values_list("reply_id", "reply__author_id")
    )
    totals: dict[int, int] = {}
    for _, author_id in set(rows):
        totals[author_id] = totals.get(author_id, 0) + 1
    return totals
