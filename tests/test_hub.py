"""The hub on its own: the same tests against every backend (memory://, redis://), and what only
Redis can do: several hubs (processes) sharing messages and presence counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from forum.live.backends import backend_for
from forum.live.coalesced import CoalescedRead
from forum.live.hub import Delivery, Hub, Lagging, Subscriber
from forum.live.presence import Presence
from forum.live.readers import Readers
from forum.live.render import FrameRenderer
from forum.settings import Settings, SocketCaps
from forum.templating import build_templates

BACKENDS = [
    pytest.param("memory://", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
#: Generous, only so that a broken hub fails instead of hanging.
TIMEOUT = 10


@pytest.fixture(params=BACKENDS)
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; Redis from the redis_url fixture (skipped when unreachable)."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(request.param)


@asynccontextmanager
async def running_hub(
    broker_url: str, queue_size: int = 256, prefix: str = Settings().broker_prefix
) -> AsyncIterator[Hub]:
    """A started hub, stopped at the end of the block."""
    hub = Hub(backend_for(broker_url, prefix), queue_size=queue_size)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@pytest_asyncio.fixture
async def hub(broker_url: str) -> AsyncIterator[Hub]:
    """A hub on the backend under test."""
    async with running_hub(broker_url) as started:
        yield started


@pytest.fixture
def channel() -> str:
    """A channel no other test (or concurrent test run sharing Redis) uses."""
    return f"test:{uuid.uuid4().hex}"


async def broker_subscribers(
    broker_url: str, channel: str, count: int, prefix: str = Settings().broker_prefix
) -> None:
    """Wait until the broker routes channel to count hubs (Redis subscribes asynchronously)."""
    if not broker_url.startswith("redis"):
        return
    channel = f"{prefix}:{channel}"
    client = aioredis.Redis.from_url(broker_url, decode_responses=True)
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                if dict(await client.pubsub_numsub(channel)).get(channel, 0) == count:
                    return
                await asyncio.sleep(0.01)
    finally:
        await client.aclose()


def delivery(n: int) -> Delivery:
    """A numbered delivery, as a thread event would be."""
    return Delivery(frames={"*": json.dumps({"n": n})}, seq=n)


async def take(subscriber: Subscriber, count: int) -> list[int]:
    """The numbers of the next count deliveries."""
    async with asyncio.timeout(TIMEOUT):
        return [json.loads((await subscriber.next()).frames["*"])["n"] for _ in range(count)]


async def test_publish_reaches_every_subscriber_of_the_channel(
    hub: Hub, broker_url: str, channel: str
) -> None:
    other_channel = channel + ":other"
    async with (
        hub.subscribe(channel) as first,
        hub.subscribe(channel) as second,
        hub.subscribe(other_channel) as other,
    ):
        await broker_subscribers(broker_url, channel, 1)
        await broker_subscribers(broker_url, other_channel, 1)
        for n in range(1, 4):
            await hub.publish(channel, delivery(n))
        await hub.publish(other_channel, delivery(99))
        assert await take(first, 3) == [1, 2, 3]
        assert await take(second, 3) == [1, 2, 3]
        assert await take(other, 1) == [99]
        # 99 has been dispatched by now: it went to its own channel only.
        assert first.queue.empty() and second.queue.empty()


async def test_subscription_ends_with_its_block(hub: Hub, broker_url: str, channel: str) -> None:
    assert hub.local_count(channel) == 0
    async with hub.subscribe(channel):
        async with hub.subscribe(channel):
            assert hub.local_count(channel) == 2
        assert hub.local_count(channel) == 1
        await broker_subscribers(broker_url, channel, 1)
    assert hub.local_count(channel) == 0
    with pytest.raises(RuntimeError, match="boom"):
        async with hub.subscribe(channel):
            assert hub.local_count(channel) == 1
            raise RuntimeError("boom")
    assert hub.local_count(channel) == 0
    # The process no longer listens at all, and publishing to nobody is harmless.
    await broker_subscribers(broker_url, channel, 0)
    await hub.publish(channel, delivery(1))
    async with hub.subscribe(channel) as again:
        await broker_subscribers(broker_url, channel, 1)
        await hub.publish(channel, delivery(2))
        assert await take(again, 1) == [2]


async def test_a_slow_subscriber_lags_while_a_fast_one_gets_everything(
    broker_url: str, channel: str
) -> None:
    lags: list[str] = []
    async with (
        running_hub(broker_url, queue_size=4) as hub,
        hub.subscribe(channel) as fast,
        hub.subscribe(channel) as slow,
    ):
        slow.on_lag = lambda: lags.append("lag")
        await broker_subscribers(broker_url, channel, 1)
        received: list[int] = []
        for n in range(1, 21):
            await hub.publish(channel, delivery(n))
            received += await take(fast, 1)  # keeps up: reads each one as it comes
        assert received == list(range(1, 21))
        assert not fast.lagging
        assert slow.lagging
        assert lags == ["lag"], "on_lag is called once, when the subscriber falls behind"
        assert await take(slow, 4) == [1, 2, 3, 4]
        with pytest.raises(Lagging):
            await asyncio.wait_for(slow.next(), TIMEOUT)


async def test_a_waiting_subscriber_sends_directly_and_falls_back_in_order(
    hub: Hub, broker_url: str, channel: str
) -> None:
    direct: list[int] = []
    accept = True

    def send_now(delivery: Delivery) -> bool:
        if accept:
            direct.append(json.loads(delivery.frames["*"])["n"])
        return accept

    async with hub.subscribe(channel) as subscriber:
        subscriber.direct = send_now
        await broker_subscribers(broker_url, channel, 1)
        waiting = subscriber.next()
        for n in (1, 2):
            await hub.publish(channel, delivery(n))
        await until(lambda: len(direct) == 2)
        assert not waiting.done(), "sent directly: the reader went on waiting"

        accept = False  # e.g. a paused transport: the reader gets it, and what follows queues
        for n in (3, 4):
            await hub.publish(channel, delivery(n))
        assert json.loads((await asyncio.wait_for(waiting, TIMEOUT)).frames["*"])["n"] == 3
        accept = True  # the reader is busy with 3: 4 must wait for it, not overtake it
        await until(lambda: len(subscriber.queue) == 1)
        await hub.publish(channel, delivery(5))
        await until(lambda: len(subscriber.queue) == 2)
        assert await take(subscriber, 2) == [4, 5]
        assert direct == [1, 2]
        waiting = subscriber.next()  # waiting again with nothing pending: direct again
        await hub.publish(channel, delivery(6))
        await until(lambda: direct == [1, 2, 6])
        waiting.cancel()


async def until(condition: Callable[[], bool]) -> None:
    """Wait until the hub has dispatched enough for condition to hold."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            if condition():
                return
            await asyncio.sleep(0.001)


@pytest.mark.redis
async def test_two_hubs_sharing_redis_see_each_others_messages(
    redis_url: str, channel: str
) -> None:
    async with (
        running_hub(redis_url) as hub_a,
        running_hub(redis_url) as hub_b,
        hub_a.subscribe(channel) as on_a,
        hub_b.subscribe(channel) as on_b,
    ):
        await broker_subscribers(redis_url, channel, 2)
        await hub_a.publish(channel, delivery(1))
        await hub_b.publish(channel, delivery(2))
        assert await take(on_a, 2) == [1, 2]
        assert await take(on_b, 2) == [1, 2]


async def test_forums_with_their_own_prefix_share_a_redis_without_mixing(
    redis_url: str, channel: str
) -> None:
    async with (
        running_hub(redis_url, prefix="forum-a") as hub_a,
        running_hub(redis_url, prefix="forum-b") as hub_b,
        hub_a.subscribe(channel) as on_a,
        hub_b.subscribe(channel) as on_b,
    ):
        await broker_subscribers(redis_url, channel, 1, prefix="forum-a")
        await broker_subscribers(redis_url, channel, 1, prefix="forum-b")
        await hub_a.publish(channel, delivery(1))
        await hub_b.publish(channel, delivery(2))
        assert await take(on_a, 1) == [1]
        assert await take(on_b, 1) == [2]
        # Nothing of the other forum's arrives afterwards either.
        await hub_a.publish(channel, delivery(3))
        assert await take(on_a, 1) == [3]
        assert on_b.queue.empty()


async def next_reading(subscriber: Subscriber, expected: int) -> None:
    """Wait for a presence report of expected readers (earlier totals may come first)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = json.loads((await subscriber.next()).frames["*"])
            if frame["type"] == "presence" and frame["reading"] == expected:
                return


@pytest.mark.redis
async def test_presence_adds_up_across_hubs_on_redis(redis_url: str, channel: str) -> None:
    """Each process counts its distinct readers; the processes' numbers add up."""
    renderer = FrameRenderer(build_templates().env, Settings())
    client = aioredis.Redis.from_url(redis_url)
    readers_a, readers_b = Readers(SocketCaps()), Readers(SocketCaps())
    async with running_hub(redis_url) as hub_a, running_hub(redis_url) as hub_b:
        presence_a = Presence(hub_a, renderer, readers_a, debounce=0.01)
        presence_b = Presence(hub_b, renderer, readers_b, debounce=0.01)
        try:
            async with hub_a.subscribe(channel) as watcher:
                await broker_subscribers(redis_url, channel, 1)
                with (
                    readers_a.holding(channel, "user:1", "10.0.0.1"),
                    readers_a.holding(channel, "user:2", "10.0.0.1"),
                ):
                    presence_a.changed(channel)
                    await next_reading(watcher, 2)
                    with readers_b.holding(channel, "user:3", "10.0.0.2"):
                        presence_b.changed(channel)
                        await next_reading(watcher, 3)
                        with readers_b.holding(channel, "user:4", "10.0.0.2"):
                            presence_b.changed(channel)
                            await next_reading(watcher, 4)
                        presence_b.changed(channel)
                        await next_reading(watcher, 3)
                        # A second page of a reader counts once; on another process, once more.
                        with (
                            readers_b.holding(channel, "user:3", "10.0.0.2"),
                            readers_b.holding(channel, "user:1", "10.0.0.1"),
                        ):
                            presence_b.changed(channel)
                            await next_reading(watcher, 4)
                    # A process shutting down (its pages closed) reports that it has none left.
                    await presence_b.stop()
                    await next_reading(watcher, 2)
        finally:
            await presence_a.stop()
            await presence_b.stop()
            await client.delete(f"presence:{channel}")
            await client.aclose()


async def test_a_storm_of_joins_is_announced_once_with_the_final_count(
    hub: Hub, channel: str, broker_url: str
) -> None:
    """Readers joining together (pages reconnecting after a restart) cost one announcement to
    everyone, carrying the count once they are all in, not one per join."""
    renderer = FrameRenderer(build_templates().env, Settings())
    readers = Readers(SocketCaps())
    presence = Presence(hub, renderer, readers, debounce=0.01, frames_per_second=100)
    try:
        async with hub.subscribe(channel) as watcher:
            await broker_subscribers(broker_url, channel, 1)
            with contextlib.ExitStack() as held:
                for number in range(50):
                    held.enter_context(readers.holding(channel, f"user:{number}", "10.0.0.1"))
                    presence.changed(channel)
                async with asyncio.timeout(TIMEOUT):
                    frame = json.loads((await watcher.next()).frames["*"])
                assert (frame["type"], frame["reading"]) == ("presence", 50)
    finally:
        await presence.stop()


async def test_a_coalesced_read_answers_each_caller_from_a_read_started_after_it_asked() -> None:
    """Callers arriving while a read runs share the next one, never the running one."""
    value = 0
    #: One gate per read started, which lets it finish.
    started: asyncio.Queue[asyncio.Event] = asyncio.Queue()

    async def read(key: str) -> int:
        seen = value  # as a query would: the value when it starts
        gate = asyncio.Event()
        started.put_nowait(gate)
        await gate.wait()
        return seen

    shared = CoalescedRead(read)
    first = asyncio.ensure_future(shared("thread:1"))
    first_read = await asyncio.wait_for(started.get(), TIMEOUT)
    value = 1  # an event committed after the first read began
    later = [asyncio.ensure_future(shared("thread:1")) for _ in range(3)]
    other = asyncio.ensure_future(shared("thread:2"))  # another key reads on its own
    other_read = await asyncio.wait_for(started.get(), TIMEOUT)
    first_read.set()
    assert await asyncio.wait_for(first, TIMEOUT) == 0
    later_read = await asyncio.wait_for(started.get(), TIMEOUT)  # one for the 3 later callers
    later_read.set()
    other_read.set()
    assert await asyncio.wait_for(asyncio.gather(*later, other), TIMEOUT) == [1, 1, 1, 1]
    assert started.empty()


async def test_a_coalesced_read_survives_a_cancelled_caller_and_passes_on_errors() -> None:
    """One caller giving up does not cancel the read the others wait for; a failed read fails
    its callers, and the next caller reads again."""
    gate = asyncio.Event()
    reads = 0

    async def read(key: str) -> int:
        nonlocal reads
        reads += 1
        await gate.wait()
        if reads == 2:
            raise RuntimeError("database gone")
        return reads

    shared = CoalescedRead(read)
    running = asyncio.ensure_future(shared("k"))
    await asyncio.sleep(0)
    leaving = asyncio.ensure_future(shared("k"))  # these two share the second read
    staying = asyncio.ensure_future(shared("k"))
    await asyncio.sleep(0)
    leaving.cancel()
    gate.set()
    assert await asyncio.wait_for(running, TIMEOUT) == 1
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(staying, TIMEOUT)
    assert leaving.cancelled()
    assert await asyncio.wait_for(shared("k"), TIMEOUT) == 3
