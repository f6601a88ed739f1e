"""The event bus: hooks run inside the transaction and roll back with it, handlers run only
after commit, a failing handler is logged and changes nothing for the write or the others."""

from __future__ import annotations

import dataclasses
import logging
import uuid

import pytest

from forum.event_types import FlagsChanged, ReplyPosted, ThreadEvent, ThreadLocked
from forum.events import Event, EventBus, Transaction
from models import Article


async def new_article() -> Article:
    slug = f"events-{uuid.uuid4().hex[:10]}"
    return await Article.create(slug=slug, title=slug, body_markdown="x", body_html="<p>x</p>")


async def test_handlers_run_after_commit_and_hooks_inside(db: None) -> None:
    bus = EventBus()
    seen: list[tuple[str, Event, bool]] = []
    article = await new_article()

    async def hook(event: ThreadEvent, tx: Transaction) -> ThreadEvent:
        # Inside the transaction: it commits (or rolls back) with the write.
        await Article.filter(id=article.id).update(subtitle="hooked")
        return dataclasses.replace(event, seq=42)

    async def handler(event: Event) -> None:
        committed = await Article.get(id=article.id)
        seen.append(("handler", event, committed.subtitle == "hooked"))

    bus.hook(ThreadEvent, hook)
    bus.subscribe(ThreadEvent, handler)
    async with bus.transaction() as tx:
        emitted = await tx.emit(ThreadLocked(article_id=article.id))
        assert emitted.seq == 42, "a hook completes the event"
        assert seen == [], "no handler runs before commit"
    assert seen == [("handler", ThreadLocked(article_id=article.id, seq=42), True)]
    await article.delete()


async def test_nothing_is_dispatched_and_hooks_roll_back_when_the_write_fails(db: None) -> None:
    bus = EventBus()
    handled: list[Event] = []
    article = await new_article()

    async def hook(event: ThreadEvent, tx: Transaction) -> None:
        await Article.filter(id=article.id).update(subtitle="written by the hook")

    async def handler(event: Event) -> None:
        handled.append(event)

    bus.hook(ThreadEvent, hook)
    bus.subscribe(Event, handler)
    with pytest.raises(RuntimeError):
        async with bus.transaction() as tx:
            await tx.emit(ThreadLocked(article_id=article.id))
            raise RuntimeError("the write fails after the event")
    assert handled == []
    assert (await Article.get(id=article.id)).subtitle == ""
    await article.delete()


async def test_a_failing_handler_is_logged_and_the_others_still_run(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus()
    handled: list[str] = []

    async def broken(event: Event) -> None:
        raise ValueError("a subscriber's bug")

    async def working(event: Event) -> None:
        handled.append(type(event).__name__)

    bus.subscribe(FlagsChanged, broken)
    bus.subscribe(FlagsChanged, working)
    with caplog.at_level(logging.ERROR, logger="forum.events"):
        async with bus.transaction() as tx:
            await tx.emit(FlagsChanged())
    assert handled == ["FlagsChanged"]
    assert "FlagsChanged" in caplog.text and "a subscriber's bug" in caplog.text


async def test_subscribers_of_a_base_type_get_its_subtypes_and_hooks_may_emit(db: None) -> None:
    bus = EventBus()
    got: list[type[Event]] = []

    async def on_posted(event: ReplyPosted, tx: Transaction) -> None:
        await tx.emit(FlagsChanged())

    async def record(event: Event) -> None:
        got.append(type(event))

    bus.hook(ReplyPosted, on_posted)
    bus.subscribe(Event, record)
    async with bus.transaction() as tx:
        await tx.emit(ReplyPosted(article_id=1, reply_id=2, author_id=3))
    # The hook's event was emitted while ReplyPosted was being recorded: it comes first.
    assert got == [FlagsChanged, ReplyPosted]
