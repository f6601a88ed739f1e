"""Live threads: publish committed events to every open page, replay what a page missed."""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import groupby
from typing import Any

from forum.event_types import ThreadEvent, thread_event
from forum.live.coalesced import CoalescedRead
from forum.live.hub import Delivery, Hub
from forum.live.render import FrameRenderer
from forum.live.typing import LiveTyping
from forum.monitoring import LiveCounters
from models import Article, LiveEvent

log = logging.getLogger("forum.live")

#: How long a replay rendered for one socket serves the others that ask for the same gap.
REPLAY_SHARE_SECONDS = 2.0
#: Past this many kept replays, the expired ones are dropped.
REPLAYS_KEPT = 256
#: Past this many slugs known, they are forgotten and looked up again.
THREAD_IDS_KEPT = 4096


def thread_channel(article_id: int) -> str:
    """The hub channel of one article's thread."""
    return f"thread:{article_id}"


class LiveThreads:
    """Renders each committed thread event once and hands it to the hub (a handler of the
    event bus), and replays the stream to pages that reconnect."""

    def __init__(self, hub: Hub, renderer: FrameRenderer, *, replay_limit: int) -> None:
        self.hub = hub
        self.renderer = renderer
        self.replay_limit = replay_limit
        #: Frames sent and sockets closed as too slow, read by /metrics.
        self.counters = LiveCounters()
        #: Replays rendered lately, by (article, after, up to): when, and the rendering.
        self._replays: dict[tuple[int, int, int], tuple[float, asyncio.Future[Any]]] = {}
        #: Who is typing in which thread (presence, not events: never in the stream).
        self.typing = LiveTyping(hub)
        #: Article ids by slug, once found: an article is never renamed nor deleted.
        self._thread_ids: dict[str, int] = {}
        self._last_seq = CoalescedRead(self._read_last_seq)

    async def committed(self, event: ThreadEvent) -> None:
        """The bus's handler of thread events."""
        await self.publish([event])

    async def publish(self, events: list[ThreadEvent]) -> None:
        """Deliver committed events to the pages that have their thread open."""
        for article_id, group in groupby(events, key=lambda event: event.article_id):
            if not await self.hub.listened(thread_channel(article_id)):
                # Nobody has the thread open in any process: rendering the frames (a good
                # share of a post's cost) would be for nobody. Pages opened later read the
                # stream.
                continue
            for delivery in await self.renderer.render(article_id, list(group)):
                try:
                    await self.hub.publish(thread_channel(article_id), delivery)
                except Exception:
                    # The change is committed; pages that miss it catch up when they reconnect.
                    log.exception("could not publish event %s of %s", delivery.seq, article_id)

    async def thread_id(self, slug: str) -> int | None:
        """The id of the article with this slug (all a live socket keeps of it), or None."""
        found = self._thread_ids.get(slug)
        if found is not None:
            return found
        article = await Article.filter(slug=slug).only("id").first()
        if article is None:
            return None  # not kept: the article may be added later
        if len(self._thread_ids) >= THREAD_IDS_KEPT:
            self._thread_ids.clear()
        self._thread_ids[slug] = article.id
        return article.id

    async def last_seq(self, article_id: int) -> int:
        """The newest position of the article's stream, read after this call (sockets that ask
        at once, as after a restart, share one read: forum.live.coalesced)."""
        return await self._last_seq(article_id)

    async def _read_last_seq(self, article_id: int) -> int:
        return (await Article.get(id=article_id).only("id", "last_seq")).last_seq

    async def replay(self, article_id: int, after_seq: int, up_to: int) -> list[Delivery] | None:
        """Every event after after_seq up to up_to, rendered as things are now; None when the
        gap cannot be replayed whole (too old, from the future, or with holes): refresh instead.

        After a restart (or a broker's), thousands of sockets ask for the same gap at once: the
        first renders it and the others, asking within REPLAY_SHARE_SECONDS, share its frames.
        A change to the thread is an event, which moves up_to and so asks for a new rendering.
        """
        if after_seq < 0 or after_seq > up_to or up_to - after_seq > self.replay_limit:
            return None
        if after_seq == up_to:
            return []
        key = (article_id, after_seq, up_to)
        now = time.monotonic()
        shared = self._replays.get(key)
        if shared is not None and now - shared[0] < REPLAY_SHARE_SECONDS:
            return await asyncio.shield(shared[1])
        if len(self._replays) >= REPLAYS_KEPT:
            self._replays = {
                k: v for k, v in self._replays.items() if now - v[0] < REPLAY_SHARE_SECONDS
            }
        rendering = asyncio.ensure_future(self._render_gap(article_id, after_seq, up_to))
        self._replays[key] = (now, rendering)
        try:
            return await asyncio.shield(rendering)
        except Exception:
            self._replays.pop(key, None)  # not shared: the next asker tries again
            raise

    async def _render_gap(
        self, article_id: int, after_seq: int, up_to: int
    ) -> list[Delivery] | None:
        rows = await LiveEvent.filter(
            article_id=article_id, seq__gt=after_seq, seq__lte=up_to
        ).order_by("seq")
        if [row.seq for row in rows] != list(range(after_seq + 1, up_to + 1)):
            return None
        events = [thread_event(row.kind, row.article_id, row.reply_id, row.seq) for row in rows]
        return await self.renderer.render(article_id, events)
