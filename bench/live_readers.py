"""The readers of bench/live.py: one process holding many picows WebSocket clients.

bench/live.py starts a few of these processes (multiprocessing, spawn) and drives each through a
pipe with small commands: connect N more sockets to a URL, report counts, hand over receipt
times, close everything. A reader sends nothing; for every `reply.posted` frame it notes the
`reply_id` and the CLOCK_MONOTONIC time of receipt, which is one clock for every process on
the machine, so the bench can subtract the time it sent the post from another process.

A connect command may ask for a source address (127.x.y.z: each address has its own ephemeral
ports) and for readers that behave like the forum's page (bench/restart.py): such a reader
reconnects when its socket is lost, with the page's backoff (htmx's, 500 ms doubling per attempt,
capped at 5 s by static/forum.js, ±30 % jitter), sends `{"type":"resume","last_seq":N}` on every
reconnection, and counts the `seq` numbers it is sent that skip ahead (gaps) or come again
(duplicates).

Every reader also counts the `reply.score` frames it gets (bench/votes.py): how many, the last
score, and when the first SCORE_TIMES_KEPT arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
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
REPLY_FRAME = re.compile(rb'^\{"type":"reply\.posted","seq":(\d+),"reply_id":(\d+)')
REFRESH_FRAME = b'{"type":"refresh"'
#: A score frame (forum/live/scores.py): {"type":"reply.score","reply_id":N,"score":N,...
SCORE_FRAME = re.compile(rb'^\{"type":"reply\.score","reply_id":(\d+),"score":(-?\d+)')
#: Score frames one reader keeps receipt times of (bench/votes.py): bounded memory.
SCORE_TIMES_KEPT = 200
#: The page's backoff (htmx's ws extension, its reconnectMaxDelay set by static/forum.js): the
#: first retry after RECONNECT_BASE_S, doubling up to RECONNECT_MAX_S, ±RECONNECT_JITTER.
RECONNECT_BASE_S, RECONNECT_MAX_S, RECONNECT_JITTER = 0.5, 5.0, 0.3
#: A resuming reader gives up after this many failed attempts in a row (bounded loops).
RECONNECT_ATTEMPTS = 12
HEAD_BYTES = 80
#: Sockets one process opens at once (the rest wait), and how long one handshake may take.
CONNECTING_AT_ONCE = 64
HANDSHAKE_TIMEOUT_S = 20.0


class Follower:
    """A reader that resumes (see the module's docstring): what outlives each of its sockets."""

    __slots__ = (
        "attempt",
        "caught_up",
        "connected_ns",
        "headers",
        "last_seq",
        "source",
        "target_seq",
        "url",
    )

    def __init__(self, url: str, headers: dict[str, str], source: str | None) -> None:
        self.url, self.headers, self.source = url, headers, source
        self.last_seq: int | None = None
        self.target_seq: int | None = None
        self.caught_up = False
        #: Failed connection attempts in a row.
        self.attempt = 0
        #: When its current socket opened (monotonic ns).
        self.connected_ns = 0

    def see(self, tally: Tally, seq: int, received_ns: int) -> None:
        """Count a thread event's seq against the last one seen."""
        if self.last_seq is not None:
            if seq <= self.last_seq:
                tally.duplicates += 1
                return
            tally.gaps += seq - self.last_seq - 1
        self.last_seq = seq
        if self.target_seq is not None and not self.caught_up and seq >= self.target_seq:
            self.caught_up = True
            tally.caught_up += 1
            tally.caught_up_last_ns = max(tally.caught_up_last_ns, received_ns)
            tally.replay_longest_ns = max(tally.replay_longest_ns, received_ns - self.connected_ns)


class Reader(WSListener):  # type: ignore[misc]
    """One socket that only listens (or resumes, for a Follower), and notes when each reply
    frame arrives, and when each score frame does (with the last score it carried)."""

    def __init__(self, tally: Tally, follower: Follower | None = None) -> None:
        super().__init__()
        self.tally = tally
        self.follower = follower
        self.transport: WSTransport | None = None
        self.score_times: list[int] = []
        self.score_frames = 0
        self.last_score: int | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.tally.open.add(self)
        self.tally.extensions[transport.response.headers.get("sec-websocket-extensions", "")] += 1
        follower = self.follower
        if follower is not None:
            follower.attempt = 0
            follower.connected_ns = time.monotonic_ns()
            if follower.last_seq is not None:
                self.tally.reconnects += 1
                self.tally.reconnected_last_ns = time.monotonic_ns()
                if not self.tally.reconnected_first_ns:
                    self.tally.reconnected_first_ns = self.tally.reconnected_last_ns
                resume = {"type": "resume", "last_seq": follower.last_seq}
                transport.send(WSMsgType.TEXT, json.dumps(resume).encode())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        received = time.monotonic_ns()
        if frame.msg_type == WSMsgType.TEXT:
            head = bytes(frame.get_payload_as_memoryview()[:HEAD_BYTES])
            found = REPLY_FRAME.match(head)
            if found is not None:
                self.tally.receipts[int(found.group(2))].append(received)
                self.tally.frame_bytes = frame.payload_size
                if self.follower is not None:
                    self.follower.see(self.tally, int(found.group(1)), received)
            elif (scored := SCORE_FRAME.match(head)) is not None:
                self.score_frames += 1
                self.last_score = int(scored.group(2))
                if len(self.score_times) < SCORE_TIMES_KEPT:
                    self.score_times.append(received)
            elif head.startswith(REFRESH_FRAME):
                self.tally.refreshes += 1
            else:
                self.tally.other_frames += 1
        elif frame.msg_type == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:  # the server closed first: say why
                code = frame.get_close_code()
                self.tally.close_codes[int(getattr(code, "value", code))] += 1
                transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        tally = self.tally
        tally.open.discard(self)
        tally.disconnects += 1
        if self.follower is not None and not tally.closing:
            schedule_reconnect(tally, self.follower)
        if not tally.open:
            tally.all_closed.set()


class Tally:
    """Everything one process has seen."""

    def __init__(self) -> None:
        self.open: set[Reader] = set()
        #: Set whenever the last open socket goes away.
        self.all_closed = asyncio.Event()
        #: Set while the bench closes the sockets: resuming readers do not come back then.
        self.closing = False
        self.receipts: defaultdict[int, list[int]] = defaultdict(list)
        self.frame_bytes = 0
        self.other_frames = 0
        self.disconnects = 0
        self.close_codes: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        #: Sec-WebSocket-Extensions of each handshake's response ("" when none was negotiated).
        self.extensions: Counter[str] = Counter()
        self.followers: list[Follower] = []
        #: Reconnection attempts waiting for their time (held so they are not collected).
        self.pending: set[asyncio.Task[None]] = set()
        self.gaps = self.duplicates = self.refreshes = self.reconnects = self.gave_up = 0
        self.caught_up = 0
        #: The longest time from a socket's handshake to its catch-up.
        self.caught_up_last_ns = self.reconnected_last_ns = self.replay_longest_ns = 0
        #: The first reconnection since expect(): about when the restarted server began to listen.
        self.reconnected_first_ns = 0

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
            "gaps": self.gaps,
            "duplicates": self.duplicates,
            "refreshes": self.refreshes,
            "reconnects": self.reconnects,
            "gave_up": self.gave_up,
            "caught_up": self.caught_up,
            "caught_up_last_ns": self.caught_up_last_ns,
            "reconnected_last_ns": self.reconnected_last_ns,
            "reconnected_first_ns": self.reconnected_first_ns,
            "replay_longest_ns": self.replay_longest_ns,
        }

    def scores(self) -> list[tuple[int, int | None, list[int]]]:
        """Each open socket's score frames: how many, the last score, their receipt times
        (monotonic ns, the first SCORE_TIMES_KEPT); and forget them."""
        found = []
        for reader in self.open:
            found.append((reader.score_frames, reader.last_score, reader.score_times))
            reader.score_frames, reader.last_score, reader.score_times = 0, None, []
        return found

    def expect(self, events: int) -> dict[str, Any]:
        """From now on, count each follower caught up once it has seen `events` more events."""
        self.caught_up = self.caught_up_last_ns = self.reconnected_last_ns = 0
        self.replay_longest_ns = self.reconnected_first_ns = 0
        self.other_frames = 0  # from now on: the presence frames of what is measured
        for follower in self.followers:
            follower.target_seq = (follower.last_seq or 0) + events
            follower.caught_up = False
        return self.stats()


async def open_socket(
    tally: Tally, url: str, headers: dict[str, str], source: str | None, follower: Follower | None
) -> None:
    """One handshake (from the source address, when given)."""
    bind: dict[str, Any] = {"local_addr": (source, 0)} if source else {}
    await ws_connect(
        lambda: Reader(tally, follower),
        url,
        websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S,
        extra_headers=headers or None,
        enable_auto_pong=True,
        read_buffer_init_size=4096,
        **bind,
    )


def schedule_reconnect(tally: Tally, follower: Follower) -> None:
    """Try again after htmx's backoff, or give up after RECONNECT_ATTEMPTS failures."""
    follower.attempt += 1
    if follower.attempt > RECONNECT_ATTEMPTS:
        tally.gave_up += 1
        return
    delay = min(RECONNECT_BASE_S * 2 ** (follower.attempt - 1), RECONNECT_MAX_S)
    delay *= 1 + random.uniform(-RECONNECT_JITTER, RECONNECT_JITTER)

    async def again() -> None:
        await asyncio.sleep(delay)
        if tally.closing:
            return
        try:
            await open_socket(tally, follower.url, follower.headers, follower.source, follower)
        except Exception as error:
            tally.errors[f"reconnect: {type(error).__name__}"] += 1
            schedule_reconnect(tally, follower)

    task = asyncio.get_running_loop().create_task(again())
    tally.pending.add(task)
    task.add_done_callback(tally.pending.discard)


async def connect(
    tally: Tally,
    url: str,
    count: int,
    headers: dict[str, str],
    source: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Open count more sockets to url, CONNECTING_AT_ONCE at a time; failures are counted.
    With resume, they are followers: they reconnect and resume when lost."""
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    tally.closing = False

    async def one() -> None:
        follower = Follower(url, headers, source) if resume else None
        async with gate:
            try:
                await open_socket(tally, url, headers, source, follower)
            except Exception as error:
                tally.errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1
                return
        if follower is not None:
            tally.followers.append(follower)

    await asyncio.gather(*(one() for _ in range(count)))
    return tally.stats()


async def close_all(tally: Tally, wait_s: float = 10.0) -> dict[str, Any]:
    """Close every socket (normal closure) and wait, at most wait_s, until they are gone."""
    tally.closing = True
    for task in tuple(tally.pending):
        task.cancel()
    tally.followers.clear()
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
        elif command == "scores":
            result = tally.scores()
        elif command == "expect":
            result = tally.expect(*args)
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
