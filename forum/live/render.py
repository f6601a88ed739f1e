"""Turn thread events into frames: rendered once per kind of viewer, encoded once, no matter
how many sockets receive them. Replays render the same way, from the state as it is now."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment

from forum.accounts.muting import muted_among
from forum.articles.passages import article_passages
from forum.event_types import ReplyDeleted, ThreadEvent
from forum.live.hub import MUTED_SUFFIX, Delivery
from forum.replies.passages import passage_counts
from forum.replies.pinned import child_counts
from forum.replies.subthreads import parent_author
from forum.replies.thread import ReplyNode, replies_by_id
from forum.settings import Settings
from forum.visibility import (
    VIEWER_KINDS,
    in_thread,
    is_moderator,
    representative_viewer,
    shows_body,
)
from models import Article, EventKind, Reply, ReplyStatus, User

#: Events that may change how many visible replies are about a passage.
_COUNTED_KINDS = {EventKind.POSTED, EventKind.DELETED, EventKind.HIDDEN, EventKind.UNHIDDEN}
#: What a frame asks the page to do with the reply it names.
INSERT, REPLACE, REMOVE, MOVE = "insert", "replace", "remove", "move"


def encode_frame(frame: Mapping[str, object]) -> str:
    """A frame as sent on the socket (compact JSON)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


class FrameRenderer:
    """Renders thread events with the page's own reply macros."""

    def __init__(self, env: Environment, settings: Settings) -> None:
        # The template's macros, called like functions (Jinja gives them no static types).
        self._macros: Any = env.get_template("_live.html").module
        self._settings = settings

    def presence(self, reading: int) -> Delivery:
        """How many pages have the thread open."""
        frame = {
            "type": "presence",
            "reading": reading,
            "content": str(self._macros.presence(reading)),
        }
        return Delivery(frames={"*": encode_frame(frame)})

    def bell(self, unread: int) -> Delivery:
        """A user's new unread count, for the bell in the header of their pages."""
        frame = {
            "type": "notifications",
            "unread": unread,
            "content": str(self._macros.bell(unread)),
        }
        return Delivery(frames={"*": encode_frame(frame)})

    def following(self, article: Article, follows: bool) -> Delivery:
        """A user's new follow state of a thread, for the button on their other pages."""
        content = str(self._macros.following(article, follows))
        frame = {
            "type": "subscription",
            "article": article.slug,
            "following": follows,
            "content": content,
        }
        return Delivery(frames={"*": encode_frame(frame)})

    def score(self, reply_id: int, score: int) -> Delivery:
        """A reply's score now, for everyone (a number is no secret of any viewer kind)."""
        frame = {
            "type": "reply.score",
            "reply_id": reply_id,
            "score": score,
            "content": str(self._macros.score(reply_id, score)),
        }
        return Delivery(frames={"*": encode_frame(frame)})

    def mute(self, member: User, muted: bool) -> Delivery:
        """A user muted or unmuted a member: their open pages collapse (or show) that member's
        replies already there (static/forum.js, by data-author), and their sockets choose
        frames by the new set."""
        frame = {"type": "mute", "author": member.username, "muted": muted}
        return Delivery(frames={"*": encode_frame(frame)}, mute=(member.id, muted))

    def refresh(self, last_seq: int) -> str:
        """Tell a page its gap cannot be replayed: reload the thread, then resume from last_seq."""
        return encode_frame({"type": "refresh", "last_seq": last_seq})

    async def render(self, article_id: int, events: list[ThreadEvent]) -> list[Delivery]:
        """One delivery per event of one article, in order: a frame per kind of viewer, and one
        for the author of a reply that is hidden (who still sees it, marked hidden)."""
        if not events:
            return []
        ids = {event.reply_id for event in events if event.reply_id}
        # Read here, after the events' commits, so that the count and lock state are current.
        article = await Article.get(id=article_id).only("id", "slug", "locked", "reply_count")
        count, locked = article.reply_count, article.locked
        everything = await replies_by_id(ids)
        with_children = {row.id for row in everything.values() if row.has_replies}
        passages = await self._passage_counts(article, events, everything)
        frames: list[dict[str, str]] = [{} for _ in events]
        # Authors someone muted: their replies get a collapsed copy of each kind's frame too,
        # which the sockets of their muters choose (Delivery.frame_for); one more query.
        muted = await muted_among({row.author_id for row in everything.values()})
        moved = {event.reply_id for event in events if event.kind in _MOVES}
        for kind in VIEWER_KINDS:
            viewer = representative_viewer(kind)
            seen = {row.id for row in everything.values() if in_thread(row, viewer)}
            counts = await child_counts(moved & seen, viewer)
            for i, event in enumerate(events):
                reply = everything.get(event.reply_id) if event.reply_id in seen else None
                frame = self._frame(
                    article, event, reply, viewer, count, locked, with_children, counts
                )
                if passages[i]:
                    frame["content"] = str(frame["content"]) + passages[i]
                frames[i][kind] = encode_frame(frame)
                if reply is not None and reply.author_id in muted and "author" in frame:
                    frame = self._frame(
                        article,
                        event,
                        reply,
                        viewer,
                        count,
                        locked,
                        with_children,
                        counts,
                        muted=True,
                    )
                    frames[i][kind + MUTED_SUFFIX] = encode_frame(frame)
        hidden = [row for row in everything.values() if row.status == ReplyStatus.HIDDEN]
        if hidden:
            # Their authors still see them (marked hidden): one frame each, as that user.
            authors = await User.in_bulk({row.author_id for row in hidden}, "id")
            for i, event in enumerate(events):
                reply = everything.get(event.reply_id)
                if reply is not None and reply.status == ReplyStatus.HIDDEN:
                    author = authors[reply.author_id]
                    counts = await child_counts({reply.id} & moved, author)
                    frame = self._frame(
                        article, event, reply, author, count, locked, with_children, counts
                    )
                    if passages[i]:
                        frame["content"] = str(frame["content"]) + passages[i]
                    frames[i][author_frame_key(reply.author_id)] = encode_frame(frame)
        return [
            Delivery(frames=frames[i], seq=event.seq, author_id=_author_of(everything, event))
            for i, event in enumerate(events)
        ]

    async def _passage_counts(
        self, article: Article, events: list[ThreadEvent], everything: dict[int, Reply]
    ) -> list[str]:
        """For each event, the new counts of the passages whose count it may change (the same
        for every viewer: only visible replies count), as partials; one grouped read in all.

        A reply gone from the table takes its passage with it: its ReplyDeleted says which;
        replayed from the stream, which does not keep it, the counts of every passage of the
        article go again instead (rare: a deletion missed by a page)."""
        affected: list[set[str]] = []
        every_anchor: list[str] | None = None
        for event in events:
            anchors: set[str] = set()
            if event.kind in _COUNTED_KINDS:
                reply = everything.get(event.reply_id)
                if reply is not None and reply.passage:
                    anchors.add(reply.passage)
                elif isinstance(event, ReplyDeleted) and event.passage is not None:
                    anchors.update([event.passage] if event.passage else [])
                elif reply is None and event.kind is EventKind.DELETED:
                    if every_anchor is None:
                        full = await Article.get(id=article.id).only("id", "body_markdown")
                        every_anchor = [p.anchor for p in article_passages(full).passages]
                    anchors.update(every_anchor)
            affected.append(anchors)
        wanted = set().union(*affected)
        if not wanted:
            return ["" for _ in events]
        counts = await passage_counts(article.id, wanted)
        macros = self._macros
        return [
            "".join(
                str(macros.passage_count_update(article, anchor, counts.get(anchor, 0)))
                for anchor in sorted(anchors)
            )
            for anchors in affected
        ]

    def _frame(
        self,
        article: Article,
        event: ThreadEvent,
        reply: Reply | None,
        viewer: User | None,
        count: int,
        locked: bool,
        with_children: set[int],
        child_counts: dict[int, int] | None = None,
        *,
        muted: bool = False,
    ) -> dict[str, object]:
        macros = self._macros
        child_counts = child_counts or {}
        frame: dict[str, object] = {"type": str(event.kind), "seq": event.seq}
        if event.kind in (EventKind.LOCKED, EventKind.UNLOCKED):
            frame["locked"] = locked
            frame["content"] = str(macros.lock_state(article, locked))
            return frame
        frame["reply_id"] = event.reply_id
        if reply is None:
            frame["op"] = REMOVE
            content = str(macros.removed(event.reply_id))
        else:
            node = ReplyNode(reply, shows_body(reply, viewer), muted=muted)
            node.parent_author = parent_author(reply, viewer)
            frame["parent_id"] = reply.parent_id
            if node.shows_body:
                frame["author"] = reply.author.username
            if muted:
                frame["muted"] = True
            if event.kind in _MOVES:
                # Where it belongs now (a replay renders the state as it is, not as it was).
                node.child_count = child_counts.get(reply.id, 0)
                frame["op"] = MOVE
                frame["pinned"] = node.pinned
                content = str(macros.moved(node, article, self._settings))
            elif _inserts(event.kind, reply, viewer, with_children):
                frame["op"] = INSERT
                content = str(macros.inserted(node, article, self._settings))
            else:
                frame["op"] = REPLACE
                content = str(macros.replaced(node, article))
        frame["content"] = content + str(macros.reply_count(count))
        return frame


#: Events that move a reply to or from the pinned ones at the top of the thread.
_MOVES = (EventKind.PINNED, EventKind.UNPINNED)


def _author_of(replies: dict[int, Reply], event: ThreadEvent) -> int | None:
    """The author of the reply an event shows, for the sockets of those who muted them."""
    reply = replies.get(event.reply_id)
    return reply.author_id if reply is not None else None


def author_frame_key(user_id: int) -> str:
    """The Delivery.frames key of the frame meant for one user only."""
    return f"user:{user_id}"


def _inserts(kind: EventKind, reply: Reply, viewer: User | None, with_children: set[int]) -> bool:
    """Whether the page lacks this reply so far: a new one, or one coming back from hiding
    that this viewer saw neither whole nor as a stub (stubs exist only above other replies)."""
    if kind is EventKind.POSTED:
        return True
    if kind is EventKind.UNHIDDEN:
        saw_it_hidden = is_moderator(viewer) or (
            viewer is not None and viewer.id == reply.author_id
        )
        return not saw_it_hidden and reply.id not in with_children
    return False
