"""Turn thread events into frames: rendered once per kind of viewer, encoded once, no matter
how many sockets receive them. Replays render the same way, from the state as it is now."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment

from forum.event_types import ThreadEvent
from forum.live.hub import Delivery
from forum.replies.pinned import child_counts
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
        frames: list[dict[str, str]] = [{} for _ in events]
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
                frames[i][kind] = encode_frame(frame)
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
                    frames[i][author_frame_key(reply.author_id)] = encode_frame(frame)
        return [Delivery(frames=frames[i], seq=event.seq) for i, event in enumerate(events)]

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
            node = ReplyNode(reply, shows_body(reply, viewer))
            frame["parent_id"] = reply.parent_id
            if node.shows_body:
                frame["author"] = reply.author.username
            if event.kind in (EventKind.PINNED, EventKind.UNPINNED):
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
