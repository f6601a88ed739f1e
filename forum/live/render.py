"""Turn thread events into frames: rendered once per kind of viewer, encoded once, no matter
how many sockets receive them. Replays render the same way, from the state as it is now."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment

from forum.articles.service import reply_count
from forum.live.events import ThreadEvent
from forum.live.hub import Delivery
from forum.replies.thread import ReplyNode
from forum.settings import Settings
from forum.visibility import VIEWER_KINDS, representative_viewer, shows_body, thread_rows
from models import Article, EventKind, Reply, User

#: What a frame asks the page to do with the reply it names.
INSERT, REPLACE, REMOVE = "insert", "replace", "remove"


def encode_frame(frame: dict[str, object]) -> str:
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

    def refresh(self, last_seq: int) -> str:
        """Tell a page its gap cannot be replayed: reload the thread, then resume from last_seq."""
        return encode_frame({"type": "refresh", "last_seq": last_seq})

    async def render(self, article: Article, events: list[ThreadEvent]) -> list[Delivery]:
        """One delivery per event, in order, each with a frame per kind of viewer."""
        if not events:
            return []
        ids = {event.reply_id for event in events}
        count = await reply_count(article)
        frames_by_kind: dict[str, list[str]] = {}
        for kind in VIEWER_KINDS:
            viewer = representative_viewer(kind)
            rows = await Reply.filter(thread_rows(viewer), id__in=ids).select_related("author")
            replies = {row.id: row for row in rows}
            frames_by_kind[kind] = [
                encode_frame(
                    self._frame(article, event, replies.get(event.reply_id), viewer, count)
                )
                for event in events
            ]
        return [
            Delivery(
                frames={kind: frames[i] for kind, frames in frames_by_kind.items()}, seq=event.seq
            )
            for i, event in enumerate(events)
        ]

    def _frame(
        self,
        article: Article,
        event: ThreadEvent,
        reply: Reply | None,
        viewer: User | None,
        count: int,
    ) -> dict[str, object]:
        macros = self._macros
        frame: dict[str, object] = {
            "type": str(event.kind),
            "seq": event.seq,
            "reply_id": event.reply_id,
        }
        if reply is None:
            frame["op"] = REMOVE
            content = str(macros.removed(event.reply_id))
        else:
            node = ReplyNode(reply, shows_body(reply, viewer))
            frame["parent_id"] = reply.parent_id
            if node.shows_body:
                frame["author"] = reply.author.username
            if event.kind is EventKind.POSTED:
                frame["op"] = INSERT
                content = str(macros.inserted(node, article, self._settings))
            else:
                frame["op"] = REPLACE
                content = str(macros.replaced(node, article))
        frame["content"] = content + str(macros.reply_count(count))
        return frame
