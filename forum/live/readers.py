"""Who has a thread open in this process: distinct readers per thread for "N reading now", and
caps on the sockets one visitor, or one address, may hold open.

A reader is the signed-in user, else the browser's visitor cookie, else the client's address
(forum.accounts.identity.visitor_key): many sockets of one reader count once, so a client that
opens hundreds of sockets is still one reader, and past the caps its extra sockets are refused.
"""

from __future__ import annotations

from collections import Counter

from forum.settings import SocketCaps


class Readers:
    """Open thread sockets of this process, by visitor, by address and by thread."""

    def __init__(self, caps: SocketCaps) -> None:
        self._caps = caps
        self._by_visitor: Counter[str] = Counter()
        self._by_address: Counter[str] = Counter()
        #: Per thread channel: each reader and how many of its sockets follow that thread.
        self._by_channel: dict[str, Counter[str]] = {}

    def holding(self, channel: str, visitor: str, address: str) -> Holding:
        """Hold one socket of visitor, from address, on channel for the duration of a `with`
        block (which gets True), counting visitor among channel's readers; or nothing (False)
        when the visitor or the address already holds as many sockets as its cap allows.

        Caps and counts change together, so a count that dropped means the slot is free.
        """
        return Holding(self, channel, visitor, address)

    def _take(self, channel: str, visitor: str, address: str) -> bool:
        caps = self._caps
        if (caps.per_visitor and self._by_visitor[visitor] >= caps.per_visitor) or (
            caps.per_address and self._by_address[address] >= caps.per_address
        ):
            return False
        self._by_channel.setdefault(channel, Counter())[visitor] += 1
        self._by_visitor[visitor] += 1
        self._by_address[address] += 1
        return True

    def _give_back(self, channel: str, visitor: str, address: str) -> None:
        _release(self._by_visitor, visitor)
        _release(self._by_address, address)
        readers = self._by_channel[channel]
        _release(readers, visitor)
        if not readers:
            self._by_channel.pop(channel, None)

    def open_sockets(self) -> int:
        """How many thread sockets this process holds open (for /metrics)."""
        return sum(self._by_visitor.values())

    def count(self, channel: str) -> int:
        """How many distinct readers this process has on channel."""
        return len(self._by_channel.get(channel, ()))


class Holding:
    """One socket's place among the readers, while it is open (Readers.holding). A small
    object rather than a generator-based context manager: thousands are open at once, and a
    suspended generator costs each of them its frame."""

    __slots__ = ("_address", "_channel", "_held", "_readers", "_visitor")

    def __init__(self, readers: Readers, channel: str, visitor: str, address: str) -> None:
        self._readers = readers
        self._channel = channel
        self._visitor = visitor
        self._address = address
        self._held = False

    def __enter__(self) -> bool:
        self._held = self._readers._take(self._channel, self._visitor, self._address)
        return self._held

    def __exit__(self, *exc_info: object) -> None:
        if self._held:
            self._readers._give_back(self._channel, self._visitor, self._address)
            self._held = False


def _release(counter: Counter[str], key: str) -> None:
    """One fewer for key; no entry left at zero, so the counters only hold who is here."""
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
