"""The in-process backend: the default, for a single server process."""

from __future__ import annotations

import asyncio

from forum.live.backends.base import Backend, MessageHandler, ReconnectHandler


class MemoryBackend(Backend):
    """Delivers to this process only, on the next loop iteration (like a broker would)."""

    def __init__(self) -> None:
        self._on_message: MessageHandler | None = None
        self._channels: set[str] = set()

    async def connect(
        self, on_message: MessageHandler, on_reconnect: ReconnectHandler | None = None
    ) -> None:
        self._on_message = on_message  # never lost: on_reconnect is never called

    async def disconnect(self) -> None:
        self._on_message = None
        self._channels.clear()

    async def ping(self) -> None:
        return None  # in this process: always there

    async def publish(self, channel: str, message: str) -> None:
        if self._on_message is not None and channel in self._channels:
            asyncio.get_running_loop().call_soon(self._on_message, channel, message)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def listened(self, channel: str) -> bool:
        return channel in self._channels

    async def report_presence(self, channel: str, node: str, count: int) -> int:
        return count
