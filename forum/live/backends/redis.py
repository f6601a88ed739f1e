"""The Redis backend: several server processes or machines share one thread's events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from forum.live.backends.base import Backend, MessageHandler, ReconnectHandler

log = logging.getLogger("forum.live")

#: A process that has not refreshed its presence for this long no longer counts.
PRESENCE_TTL_SECONDS = 45


class RedisBackend(Backend):
    """Redis pub/sub for messages, a hash per channel for presence counts."""

    def __init__(self, url: str, prefix: str = "forum") -> None:
        self._url = url
        # Hub channel "article:7" is Redis channel "forum:article:7".
        self._prefix = f"{prefix}:"
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._on_message: MessageHandler | None = None
        self._on_reconnect: ReconnectHandler | None = None

    async def connect(
        self, on_message: MessageHandler, on_reconnect: ReconnectHandler | None = None
    ) -> None:
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        # A restarted Redis leaves the pool's connections closed: a command retries on a new
        # one (a few times, briefly) rather than fail on the first stale connection.
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3)
        self._client = aioredis.Redis.from_url(self._url, decode_responses=True, retry=retry)
        await self._client.ping()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read(), name="redis-hub-reader")

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()
        self._reader = self._pubsub = self._client = None

    async def _read(self) -> None:
        assert self._pubsub is not None
        lost = False
        while True:
            if not self._pubsub.subscribed:
                # Nothing subscribed yet: get_message would return at once, so wait a little.
                await asyncio.sleep(0.05)
                continue
            try:
                # After a lost connection this reconnects, and redis-py subscribes again to
                # every channel before it reads.
                message = await self._pubsub.get_message(timeout=1.0)
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
                if not lost:
                    log.warning("lost the Redis connection; retrying")
                lost = True
                await asyncio.sleep(0.5)
                continue
            if lost:
                lost = False
                if self._on_reconnect is not None:
                    self._on_reconnect()
            if message is not None and message["type"] == "message" and self._on_message:
                channel = str(message["channel"]).removeprefix(self._prefix)
                self._on_message(channel, message["data"])

    async def ping(self) -> None:
        if self._client is None:
            raise ConnectionError("not connected to Redis")
        await self._client.ping()

    async def publish(self, channel: str, message: str) -> None:
        assert self._client is not None
        await self._client.publish(self._prefix + channel, message)

    async def subscribe(self, channel: str) -> None:
        assert self._pubsub is not None
        await self._pubsub.subscribe(self._prefix + channel)

    async def unsubscribe(self, channel: str) -> None:
        assert self._pubsub is not None
        await self._pubsub.unsubscribe(self._prefix + channel)

    async def listened(self, channel: str) -> bool:
        # Always: a socket joining in another process is not subscribed yet while it reads
        # where the stream ends, and PUBSUB NUMSUB cannot see it. Publishing for nobody costs
        # the rendering; skipping an event a socket then never replays would cost correctness.
        return True

    async def report_presence(self, channel: str, node: str, count: int) -> int:
        assert self._client is not None
        key = f"{self._prefix}presence:{channel}"
        now = time.time()
        await self._client.hset(key, node, f"{count}:{now}")
        await self._client.expire(key, PRESENCE_TTL_SECONDS * 2)
        total = 0
        for value in (await self._client.hgetall(key)).values():
            reported, _, at = str(value).partition(":")
            if now - float(at or 0) < PRESENCE_TTL_SECONDS:
                total += int(reported)
        return total
