"""The handful of operations a hub backend provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

#: Called with (channel, message) for every message on a subscribed channel, in order.
MessageHandler = Callable[[str, str], None]
#: Called when the broker is reachable again after the connection was lost.
ReconnectHandler = Callable[[], None]


class Backend(ABC):
    """Moves messages between processes; the hub does the local fan-out."""

    @abstractmethod
    async def connect(
        self, on_message: MessageHandler, on_reconnect: ReconnectHandler | None = None
    ) -> None:
        """Start delivering messages of subscribed channels to on_message; call on_reconnect
        whenever the connection was lost and is back (messages may have been missed)."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Stop and release connections."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise when the broker cannot be reached (health checks)."""

    @abstractmethod
    async def publish(self, channel: str, message: str) -> None:
        """Send message to every process subscribed to channel."""

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Start receiving channel's messages in this process."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving channel's messages in this process."""

    @abstractmethod
    async def listened(self, channel: str) -> bool:
        """Whether any process is subscribed to channel now (True when unsure)."""

    @abstractmethod
    async def report_presence(self, channel: str, node: str, count: int) -> int:
        """Record how many readers this process has on channel; return the total of all."""
