"""Up-votes: a member votes for a reply and may take the vote back.

One standing vote per member and reply, enforced by the table's unique (reply, user, slot)
and written with INSERT ... ON CONFLICT DO NOTHING, so that two requests at once cannot both
count; the reply's score moves with an atomic `score = score ± 1` in the same transaction, only
when a row really changed. Votes taken back stay as history (forum.replies.ranking reads the
score a reply had at a past moment).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from forum.accounts.standing import require_active
from forum.db import write_returning
from forum.errors import Forbidden, NotFound
from forum.event_types import ReplyVoted
from forum.events import EventBus
from forum.replies.thread import ReplyNode
from forum.visibility import thread_rows
from models import Reply, ReplyStatus, ReplyVote, User


class VotesClosed(Exception):
    """The reply takes no votes (hidden, deleted, or its thread locked): a 409."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VoteState:
    """A reply's score after a vote, and whether the voter's vote stands."""

    reply_id: int
    article_id: int
    score: int
    voted: bool


#: vote or unvote.
VoteChange = Callable[..., Awaitable[VoteState]]


def now_us() -> int:
    """Now, in microseconds since the epoch (the votes' clock)."""
    return time.time_ns() // 1000


async def _votable(reply_id: int, user: User) -> Reply:
    """The reply, if user may vote on it now; NotFound, Forbidden or VotesClosed otherwise."""
    require_active(user)
    reply = await Reply.filter(thread_rows(user), id=reply_id).select_related("article").first()
    if reply is None:
        raise NotFound("That reply does not exist.")
    if reply.status == ReplyStatus.DELETED:
        raise VotesClosed("That reply was deleted: it takes no votes.")
    if reply.status == ReplyStatus.HIDDEN:
        raise VotesClosed("That reply is hidden by a moderator: it takes no votes.")
    if reply.article.locked:
        raise VotesClosed("This discussion is locked: votes are closed.")
    if reply.author_id == user.id:
        raise Forbidden("You cannot vote for your own reply.")
    return reply


async def vote(reply_id: int, user: User, *, bus: EventBus) -> VoteState:
    """Up-vote a reply; voting again changes nothing."""
    reply = await _votable(reply_id, user)
    async with bus.transaction() as tx:
        cast = await write_returning(
            ReplyVote,
            "INSERT INTO reply_votes (reply_id, user_id, slot, voted_us) VALUES (?, ?, 0, ?)"
            " ON CONFLICT (reply_id, user_id, slot) DO NOTHING RETURNING id",
            [reply.id, user.id, now_us()],
        )
        score = await _move_score(reply.id, 1 if cast else 0)
        if cast:
            await tx.emit(ReplyVoted(article_id=reply.article_id, reply_id=reply.id))
    return VoteState(reply.id, reply.article_id, score, True)


async def unvote(reply_id: int, user: User, *, bus: EventBus) -> VoteState:
    """Take one's vote back; without one, nothing changes."""
    reply = await _votable(reply_id, user)
    async with bus.transaction() as tx:
        taken = await write_returning(
            ReplyVote,
            "UPDATE reply_votes SET slot = id, retracted_us = ?"
            " WHERE reply_id = ? AND user_id = ? AND slot = 0 RETURNING id",
            [now_us(), reply.id, user.id],
        )
        score = await _move_score(reply.id, -1 if taken else 0)
        if taken:
            await tx.emit(ReplyVoted(article_id=reply.article_id, reply_id=reply.id))
    return VoteState(reply.id, reply.article_id, score, False)


async def _move_score(reply_id: int, change: int) -> int:
    """Add change to the reply's score in one statement (no read-modify-write); the score."""
    if change == 0:
        row = await Reply.filter(id=reply_id).only("id", "score").first()
        return row.score if row is not None else 0
    rows = await write_returning(
        Reply,
        "UPDATE replies SET score = score + ? WHERE id = ? RETURNING score",
        [change, reply_id],
    )
    return int(rows[0]["score"]) if rows else 0


async def has_voted(reply_ids: list[int], user: User | None) -> set[int]:
    """Which of these replies user's vote stands on (for the vote buttons)."""
    if user is None or not reply_ids:
        return set()
    standing = ReplyVote.filter(user_id=user.id, slot=0, reply_id__in=reply_ids)
    return {int(row["reply_id"]) for row in await standing.values("reply_id")}


def _walk(nodes: Iterable[ReplyNode]) -> Iterator[ReplyNode]:
    for node in nodes:
        yield node
        yield from _walk(node.children)


async def mark_votes(nodes: Iterable[ReplyNode], viewer: User | None) -> None:
    """Set node.voted on these nodes and those under them, for viewer's vote buttons (one query)."""
    every = list(_walk(nodes))
    voted = await has_voted([node.reply.id for node in every], viewer)
    for node in every:
        node.voted = node.reply.id in voted
