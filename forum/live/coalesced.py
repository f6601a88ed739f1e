"""Reads shared by everyone who asks at about the same time, yet never older than the asking.

After a restart thousands of sockets ask where a thread's stream ends within a few seconds. Each
must get a value read *after* it asked (an older one could miss an event it must replay), but
they need not each run their own query: every caller who arrives while a read is running waits
for the next one, which starts as that one ends and answers them all. So at most one read per
key runs at a time, and a storm of N callers costs about as many queries as a read takes turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CoalescedRead(Generic[K, V]):
    """read(key), run at most once at a time per key; callers share the next run to start."""

    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        #: Per key, the run in progress, if any.
        self._running: dict[K, asyncio.Future[V]] = {}
        #: Per key, the run that starts when the one in progress ends: its callers wait on it.
        self._next: dict[K, asyncio.Future[V]] = {}

    async def __call__(self, key: K) -> V:
        """The value of read(key), from a run that started after this call."""
        waiting = self._next.get(key)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            if key in self._running:
                self._next[key] = waiting  # starts when the running one ends
            else:
                self._start(key, waiting)
        # Shielded: a caller cancelled (its socket closed) must not cancel the others' read.
        return await asyncio.shield(waiting)

    def _start(self, key: K, result: asyncio.Future[V]) -> None:
        self._running[key] = result
        task = asyncio.ensure_future(self._read(key))
        task.add_done_callback(lambda done: self._finished(key, result, done))

    def _finished(self, key: K, result: asyncio.Future[V], done: asyncio.Future[V]) -> None:
        del self._running[key]
        if done.cancelled():
            result.cancel()
        elif (error := done.exception()) is not None:
            result.set_exception(error)
            result.exception()  # its callers may all be gone: nobody else need retrieve it
        else:
            result.set_result(done.result())
        waiting = self._next.pop(key, None)
        if waiting is not None:
            self._start(key, waiting)
