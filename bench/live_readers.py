"""The readers of bench/live.py: one process holding many picows WebSocket clients.

bench/live.py starts a few of these processes (multiprocessing, spawn) and drives each through a
pipe with small commands: connect N more sockets to a URL, report counts, hand over receipt
times, close everything. A reader sends nothing; for every `reply.posted` frame it notes the
`reply_id` and the CLOCK_MONOTONIC time of receipt, which is one clock for every process on
the machine, so the bench can subtract the time it sent the post from another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import time
from collections import Counter, defaultdict
from multiprocessing.connection import Connection
from typing import Any

import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

#: The start of a reply frame (forum and baselines alike): {"type":"reply.posted","seq":N,
#: "reply_id":N,... Only this prefix is read, so a reader costs little per frame.
REPLY_FRAME = re.compile(rb'^\{"type":"reply\.posted","seq":\d+,"reply_id":(\d+)')
HEAD_BYTES = 80
#: Sockets one process opens at once (the rest wait), and how long one handshake may take.
CONNECTING_AT_ONCE = 64
HANDSHAKE_TIMEOUT_S = 20.0


class Reader(WSListener):  # type: ignore[misc]
    """One socket that only listens, and notes when each reply frame arrives."""

    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self.tally = tally
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.tally.open.add(self)
        self.tally.extensions[transport.response.headers.get("sec-websocket-extensions", "")] += 1

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        received = time.monotonic_ns()
        if frame.msg_type == WSMsgType.TEXT:
            found = REPLY_FRAME.match(bytes(frame.get_payload_as_memoryview()[:HEAD_BYTES]))
            if found is not None:
                self.tally.receipts[int(found.group(1))].append(received)
                self.tally.frame_bytes = frame.payload_size
            else:
                self.tally.other_frames += 1
        elif frame.msg_type == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:  # the server closed first: say why
                code = frame.get_close_code()
                self.tally.close_codes[int(getattr(code, "value", code))] += 1
                transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.tally.open.discard(self)
        self.tally.disconnects += 1
        if not self.tally.open:
            self.tally.all_closed.set()


class Tally:
    """Everything one process has seen."""

    def __init__(self) -> None:
        self.open: set[Reader] = set()
        #: Set whenever the last open socket goes away.
        self.all_closed = asyncio.Event()
        self.receipts: defaultdict[int, list[int]] = defaultdict(list)
        self.frame_bytes = 0
        self.other_frames = 0
        self.disconnects = 0
        self.close_codes: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        #: Sec-WebSocket-Extensions of each handshake's response ("" when none was negotiated).
        self.extensions: Counter[str] = Counter()

    def stats(self) -> dict[str, Any]:
        """Counts for the bench (cheap: no receipt times)."""
        return {
            "open": len(self.open),
            "received": sum(len(times) for times in self.receipts.values()),
            "frame_bytes": self.frame_bytes,
            "other_frames": self.other_frames,
            "disconnects": self.disconnects,
            "close_codes": dict(self.close_codes),
            "errors": dict(self.errors),
            "extensions": dict(self.extensions),
        }


async def connect(tally: Tally, url: str, count: int, headers: dict[str, str]) -> dict[str, Any]:
    """Open count more sockets to url, CONNECTING_AT_ONCE at a time; failures are counted."""
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def one() -> None:
        async with gate:
            try:
                await ws_connect(
                    lambda: Reader(tally),
                    url,
                    websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                    extra_headers=headers or None,
                    enable_auto_pong=True,
                    read_buffer_init_size=4096,
                )
            except Exception as error:
                tally.errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return tally.stats()


async def close_all(tally: Tally, wait_s: float = 10.0) -> dict[str, Any]:
    """Close every socket (normal closure) and wait, at most wait_s, until they are gone."""
    if tally.open:
        tally.all_closed.clear()
        for reader in tuple(tally.open):
            if reader.transport is not None:
                reader.transport.send_close(WSCloseCode.OK)
                reader.transport.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tally.all_closed.wait(), wait_s)
    return tally.stats()


async def serve_commands(pipe: Connection) -> None:
    """Obey the bench's commands until it says exit (or goes away)."""
    tally = Tally()
    loop = asyncio.get_running_loop()
    while True:
        try:
            command, *args = await loop.run_in_executor(None, pipe.recv)
        except EOFError:
            command, args = "exit", []
        if command == "connect":
            result: Any = await connect(tally, *args)
        elif command == "stats":
            result = tally.stats()
        elif command == "collect":
            result, tally.receipts = dict(tally.receipts), defaultdict(list)
        elif command == "close":
            result = await close_all(tally)
        elif command == "exit":
            await close_all(tally, wait_s=2.0)
            return
        else:
            result = {"error": f"unknown command {command!r}"}
        pipe.send(result)


def run(pipe: Connection) -> None:
    """Process entry point: raise the open-files limit, then serve the bench's commands."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(serve_commands(pipe))
