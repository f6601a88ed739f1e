"""Live thread speed: post→receipt latency, server CPU per delivery and memory per idle reader.

Run `.venv/bin/python bench/live.py` (or `make bench-live`). It starts the forum under uvicorn
on a free loopback port (temporary SQLite file, memory broker, per-message deflate off), and
CLIENT_PROCESSES reader processes (bench/live_readers.py, picows, no compression) that hold
1,000 and then 5,000 WebSockets open on the seed article's thread. A member posts replies through
the JSON API, one every POST_INTERVAL_S; every reader notes when each `reply.posted` frame
arrives, on the machine-wide monotonic clock, and the bench subtracts the moment just before it
sent the POST. The server's CPU time (/proc/PID/task/*/schedstat) is read around each burst and
its idle rate subtracted; its RSS with no reader and with N idle readers gives memory per reader.

The same readers then measure two baselines in the same run: a bare Starlette endpoint that
awaits send_text on each socket in turn (bench/baselines/starlette_loop.py) and a raw
`websockets` server using broadcast() (bench/baselines/websockets_broadcast.py), both sending
frames of the forum's size. Finally the forum runs once more with per-message deflate on, for
its memory per idle reader. Keepalive pings are off on every server so that they do not fall
into a measurement window at random, the forum's posting limits are off (RATE_LIMITS=off), and so
are its caps on sockets per visitor and per address (LIVE_SOCKETS_PER_VISITOR=0,
LIVE_SOCKETS_PER_ADDRESS=0): all the readers connect from loopback without cookies, one visitor.
Exits 1 when a target is missed: p99 ≤ 250 ms at 5,000 readers, ≤ 25 µs of server CPU per
delivery, ≤ 32 KiB per idle reader.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import reader_pool
from reader_pool import Readers, percentile
from reader_pool import fail as _fail
from servers import (
    Server,
    ServerError,
    free_port,
    start_forum,
    start_process,
    stop_server,
    uvicorn_command,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_ROOT / "bench"
SLUG = "bidens-armed-shift-ukraine-authorized-to-strike-inside-russia"
PASSWORD = "correct horse battery"

READER_COUNTS = (1_000, 5_000)
#: The deflate comparison needs no more than this many readers.
DEFLATE_READERS = 1_000
CLIENT_PROCESSES = 4
#: Posts per burst, one every POST_INTERVAL_S (longer than a fan-out should take, so a post does
#: not queue behind the previous one unless the server is too slow).
POSTS = 20
POST_INTERVAL_S = 0.5
#: Posts timed with no reader connected: the cost of a post itself.
SOLO_POSTS = 10
WARMUP_READERS = 4 * CLIENT_PROCESSES
WARMUP_POSTS = 3
#: After connecting readers: time for presence announcements to go out and the server to calm.
SETTLE_S = 2.0
IDLE_S = 2.0
DELIVERY_TIMEOUT_S = 30.0

TARGET_P99_MS = 250.0
TARGET_CPU_US = 25.0
TARGET_KIB = 32.0

#: The forum's settings under the reader benches: posting limits (one post per 30 s for a new
#: account) would refuse a burst, and the socket caps all but a few of the readers (one visitor
#: on one address).
LIVE_SETTINGS = {
    "BROKER_URL": "memory://",
    "RATE_LIMITS": "off",
    "LIVE_SOCKETS_PER_VISITOR": "0",
    "LIVE_SOCKETS_PER_ADDRESS": "0",
}
DEFLATE_OFFER = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
REPLY_BODY = (
    "Good point, but consider the logistics: range, supply, and who gets to pick the targets. "
    "Each of those is its own negotiation.\n\nThe announcement skips all of it."
)


# --- servers -----------------------------------------------------------------------------------


def uvicorn_options(*, deflate: bool) -> list[str]:
    """uvicorn as `python -m forum serve` runs it, less keepalive pings (see the docstring)."""
    return [
        "--ws-per-message-deflate",
        "true" if deflate else "false",
        "--ws-max-size",
        str(64 * 1024),
        "--ws-ping-interval",
        "0",
        "--no-proxy-headers",
        "--log-level",
        "warning",
    ]


def start_live_forum(name: str, workdir: Path, servers: list[Server], *, deflate: bool) -> Server:
    """The forum on a fresh SQLite file (the seed article loads at start), memory broker."""
    server = start_forum(
        name,
        f"sqlite://{workdir / f'{name}.sqlite3'}",
        workdir,
        env=LIVE_SETTINGS,
        options=uvicorn_options(deflate=deflate),
    )
    servers.append(server)
    return server


# --- what a post is, on each server ------------------------------------------------------------


class Target:
    """A server under measurement: where readers connect and how one message is sent."""

    def __init__(self, server: Server, live_path: str) -> None:
        self.server = server
        self.live_url = server.ws_url + live_path
        self.client = httpx.Client(base_url=server.url, timeout=30)

    def post(self, sent_ns: int) -> int:
        """Make the server send one reply frame to every reader; returns its reply_id."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the HTTP client."""
        self.client.close()


class ForumTarget(Target):
    """The forum: a signed-in member posts a reply through the JSON API."""

    def __init__(self, server: Server) -> None:
        super().__init__(server, f"/a/{SLUG}/live")
        username = "bench_" + uuid.uuid4().hex[:8]
        account = {"username": username, "password": PASSWORD}
        created = self.client.post("/api/accounts", json=account)
        session = self.client.post("/api/session", json=account)
        if created.status_code != 201 or session.status_code != 200:
            raise _fail(f"could not sign up: {created.text} {session.text}", server.log)
        self.csrf = session.json()["csrf_token"]

    def post(self, sent_ns: int) -> int:
        response = self.client.post(
            f"/api/articles/{SLUG}/replies",
            json={"body": f"{REPLY_BODY} ({sent_ns})"},
            headers={"X-CSRF-Token": self.csrf},
        )
        if response.status_code != 201:
            raise _fail(
                f"posting answered {response.status_code}: {response.text}", self.server.log
            )
        return int(response.json()["id"])


class StarletteLoopTarget(Target):
    """bench/baselines/starlette_loop.py: POST /publish."""

    def __init__(self, server: Server) -> None:
        super().__init__(server, "/live")
        self.next_id = 0

    def post(self, sent_ns: int) -> int:
        self.next_id += 1
        response = self.client.post("/publish", json={"reply_id": self.next_id, "sent_ns": sent_ns})
        if response.status_code != 204:
            raise _fail(f"publish answered {response.status_code}", self.server.log)
        return self.next_id


class BroadcastTarget(Target):
    """bench/baselines/websockets_broadcast.py: GET /publish (one connection each)."""

    def __init__(self, server: Server) -> None:
        super().__init__(server, "/live")
        self.next_id = 0

    def post(self, sent_ns: int) -> int:
        self.next_id += 1
        params = {"reply_id": self.next_id, "sent_ns": sent_ns}
        response = self.client.get("/publish", params=params)
        if response.status_code != 200:
            raise _fail(f"publish answered {response.status_code}", self.server.log)
        return self.next_id


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One server at one number of readers."""

    server: str
    readers: int
    connected: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    expected: int = 0
    cpu_us: float = math.nan
    fanout_us: float = math.nan
    kib_per_reader: float = math.nan
    notes: list[str] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        return percentile(self.latencies_ms, share)

    @property
    def lost(self) -> int:
        """Deliveries that never arrived."""
        return self.expected - len(self.latencies_ms)


def wait_for_deliveries(readers: Readers, expected: int) -> dict[str, Any]:
    """Poll the readers until expected reply frames arrived (or DELIVERY_TIMEOUT_S passed)."""
    return reader_pool.wait_for_deliveries(readers, expected, DELIVERY_TIMEOUT_S)


def send_posts(target: Target, count: int, interval: float) -> dict[int, int]:
    """count posts, one every interval seconds; the send time (monotonic ns) of each reply_id."""
    sent: dict[int, int] = {}
    began = time.monotonic()
    for number in range(count):
        time.sleep(max(began + number * interval - time.monotonic(), 0))
        sent_ns = time.monotonic_ns()
        sent[target.post(sent_ns)] = sent_ns
    return sent


def warm_up(target: Target, readers: Readers) -> int:
    """Exercise connect, post and fan-out once; the size of a reply frame, in bytes."""
    connected = readers.connect(target.live_url, WARMUP_READERS)
    send_posts(target, WARMUP_POSTS, 0.1)
    stats = wait_for_deliveries(readers, connected * WARMUP_POSTS)
    readers.collect()
    readers.close()
    if stats["received"] < connected * WARMUP_POSTS:
        raise _fail(
            f"{target.server.name}: warm-up frames did not arrive: {stats}", target.server.log
        )
    return int(stats["frame_bytes"])


def measure(
    target: Target, readers: Readers, counts: tuple[int, ...]
) -> tuple[list[Result], float]:
    """Each reader count in turn on one server; also the CPU of one post with no reader (ms)."""
    server = target.server
    time.sleep(SETTLE_S)
    cpu_before = server.cpu_seconds()
    send_posts(target, SOLO_POSTS, 0.05)
    solo_post_s = (server.cpu_seconds() - cpu_before) / SOLO_POSTS
    time.sleep(SETTLE_S)
    rss_empty = server.rss_kib()
    results = []
    for count in counts:
        result = Result(server.name, count)
        results.append(result)
        connected = readers.connect(target.live_url, count - int(readers.stats()["open"]))
        result.connected = connected
        if connected < count:
            errors = readers.stats()["errors"]
            result.notes.append(
                f"only {connected:,} of {count:,} readers connected: {dict(errors)}"
            )
        if not connected:
            continue
        time.sleep(SETTLE_S)
        result.kib_per_reader = (server.rss_kib() - rss_empty) / connected
        cpu_before, idle_began = server.cpu_seconds(), time.monotonic()
        time.sleep(IDLE_S)
        idle_rate = (server.cpu_seconds() - cpu_before) / (time.monotonic() - idle_began)
        readers.collect()
        before = readers.stats()
        cpu_before, began = server.cpu_seconds(), time.monotonic()
        sent = send_posts(target, POSTS, POST_INTERVAL_S)
        result.expected = POSTS * connected
        stats = wait_for_deliveries(readers, before["received"] + result.expected)
        cpu = server.cpu_seconds() - cpu_before - idle_rate * (time.monotonic() - began)
        receipts = readers.collect()
        result.latencies_ms = [
            (received - sent[reply_id]) / 1e6
            for reply_id, times in receipts.items()
            if reply_id in sent
            for received in times
        ]
        delivered = max(len(result.latencies_ms), 1)
        result.cpu_us = cpu / delivered * 1e6
        result.fanout_us = (cpu - POSTS * solo_post_s) / delivered * 1e6
        closed = stats["close_codes"] - before["close_codes"]
        if closed:
            result.notes.append(f"closed by the server during the burst: {dict(closed)}")
        if stats["open"] < connected:
            result.notes.append(f"{connected - stats['open']:,} readers dropped during the burst")
    readers.close()
    return results, solo_post_s * 1e3


def measure_deflate(server: Server, readers: Readers, headers: dict[str, str]) -> tuple[float, str]:
    """Memory per idle forum reader (KiB) with the given handshake headers; the extension agreed."""
    target = ForumTarget(server)
    try:
        readers.connect(target.live_url, WARMUP_READERS, headers)
        readers.close()
        time.sleep(SETTLE_S)
        rss_empty = server.rss_kib()
        before = readers.stats()["extensions"]
        connected = readers.connect(target.live_url, DEFLATE_READERS, headers)
        time.sleep(SETTLE_S)
        kib = (server.rss_kib() - rss_empty) / max(connected, 1)
        agreed = (readers.stats()["extensions"] - before).most_common(1)
        readers.close()
        return kib, (agreed[0][0] if agreed else "") or "none"
    finally:
        target.close()


# --- reporting ---------------------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    """One line per server and reader count."""
    print(
        f"{'server':<22}{'readers':>8}{'conn':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'lost':>7}{'CPU µs/dlv':>12}{'fan-out µs':>12}{'KiB/reader':>12}"
    )
    for r in results:
        print(
            f"{r.server:<22}{r.readers:>8,}{r.connected:>7,}{r.percentile(0.5):>9.1f}"
            f"{r.percentile(0.99):>9.1f}{r.percentile(1.0):>9.1f}{r.lost:>7,}"
            f"{r.cpu_us:>12.1f}{r.fanout_us:>12.1f}{r.kib_per_reader:>12.1f}"
        )
        for note in r.notes:
            print(f"  note: {note}")


def print_ratios(results: list[Result], baselines: list[str]) -> None:
    """The forum's figures over each baseline's, at each reader count."""
    by_key = {(r.server, r.readers): r for r in results}
    print(f"\n{'forum / baseline':<36}{'p50':>7}{'p99':>7}{'CPU':>7}{'fan-out':>9}{'memory':>8}")
    for count in READER_COUNTS:
        forum = by_key[("forum", count)]
        for name in baselines:
            base = by_key[(name, count)]

            def ratio(mine: float, theirs: float) -> str:
                return f"{mine / theirs:.2f}" if theirs > 0 else "-"

            print(
                f"{f'{name} @ {count:,}':<36}"
                f"{ratio(forum.percentile(0.5), base.percentile(0.5)):>7}"
                f"{ratio(forum.percentile(0.99), base.percentile(0.99)):>7}"
                f"{ratio(forum.cpu_us, base.cpu_us):>7}"
                f"{ratio(forum.fanout_us, base.fanout_us):>9}"
                f"{ratio(forum.kib_per_reader, base.kib_per_reader):>8}"
            )


def verdict(name: str, value: float, limit: float, unit: str) -> bool:
    """Print one target check; True when it passes."""
    passed = value <= limit
    print(f"  {name:<44}{value:>8.1f} {unit} ≤ {limit:g} {unit}  {'PASS' if passed else 'FAIL'}")
    return passed


def report(results: list[Result]) -> bool:
    """Check the forum's figures against the targets; True when all are met."""
    forum = {r.readers: r for r in results if r.server == "forum"}
    largest = forum[max(READER_COUNTS)]
    checks = []
    if largest.connected < largest.readers:
        print(f"  only {largest.connected:,} readers were reached: see the note above  FAIL")
        checks.append(False)
    checks.append(
        verdict(
            f"p99 at {largest.readers:,} readers", largest.percentile(0.99), TARGET_P99_MS, "ms"
        )
    )
    for count, result in forum.items():
        checks.append(
            verdict(f"server CPU per delivery at {count:,}", result.cpu_us, TARGET_CPU_US, "µs")
        )
        print(f"    (of which fan-out alone, without the post: {result.fanout_us:.1f} µs)")
    for count, result in forum.items():
        checks.append(
            verdict(
                f"memory per idle reader at {count:,}", result.kib_per_reader, TARGET_KIB, "KiB"
            )
        )
    for result in forum.values():
        if result.lost:
            print(f"  {result.lost:,} deliveries lost at {result.readers:,} readers  FAIL")
            checks.append(False)
    return all(checks)


# --- the run -----------------------------------------------------------------------------------


def run(workdir: Path, servers: list[Server], readers: Readers) -> bool:
    """Measure the forum, both baselines and the forum with deflate; True when targets are met."""
    results: list[Result] = []
    solo_ms: dict[str, float] = {}

    def measure_one(name: str, server: Server, make: Callable[[Server], Target]) -> int:
        target = make(server)
        try:
            frame_bytes = warm_up(target, readers)
            found, solo_ms[name] = measure(target, readers, READER_COUNTS)
            results.extend(found)
        finally:
            target.close()
            stop_server(server)
        return frame_bytes

    load_before = os.getloadavg()[0]
    forum = start_live_forum("forum", workdir, servers, deflate=False)
    frame_bytes = measure_one("forum", forum, ForumTarget)
    env = {"BASELINE_FRAME_BYTES": str(frame_bytes)}
    app = ["--app-dir", "bench/baselines", "starlette_loop:app"]
    port = free_port()
    command = uvicorn_command(app, port, uvicorn_options(deflate=False))
    server = start_process("starlette-loop", command, port, "/health", env, workdir)
    servers.append(server)
    measure_one("starlette-loop", server, StarletteLoopTarget)
    command = [sys.executable, str(BENCH_DIR / "baselines" / "websockets_broadcast.py")]
    server = start_process("websockets-broadcast", command, free_port(), "/health", env, workdir)
    servers.append(server)
    measure_one("websockets-broadcast", server, BroadcastTarget)

    deflated = start_live_forum("forum-deflate", workdir, servers, deflate=True)
    try:
        deflate_kib, agreed = measure_deflate(deflated, readers, DEFLATE_OFFER)
    finally:
        stop_server(deflated)

    print(
        f"\n{POSTS} posts per burst, one every {POST_INTERVAL_S} s, to every reader; frames of "
        f"{frame_bytes:,} bytes; readers in {CLIENT_PROCESSES} processes (picows); loopback, "
        f"{os.cpu_count()} cores; load average {load_before:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine shows in the latencies)\n"
    )
    print_table(results)
    print(
        "\nCPU µs/dlv: server CPU during the burst less its idle rate, per delivered frame; "
        "fan-out µs: the same less the CPU of the posts themselves (timed with no reader): "
        + ", ".join(f"{name} {ms:.2f} ms/post" for name, ms in solo_ms.items())
    )
    print_ratios(results, ["starlette-loop", "websockets-broadcast"])
    off = next(r for r in results if r.server == "forum" and r.readers == DEFLATE_READERS)
    print(
        f"\nforum memory per idle reader at {DEFLATE_READERS:,}: per-message deflate off "
        f"{off.kib_per_reader:.1f} KiB, on {deflate_kib:.1f} KiB (agreed: {agreed}); "
        f"deflate costs {deflate_kib - off.kib_per_reader:.1f} KiB per reader"
    )
    print("\ntargets (forum)")
    return report(results)


def main() -> int:
    """Run the bench; exit status 0 when the targets are met, 1 when not, 2 on an error."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # servers and readers inherit it
    if hard < max(READER_COUNTS) + 200:
        print(f"note: the open-files limit is {hard}; {max(READER_COUNTS):,} readers need more")
    servers: list[Server] = []
    readers: Readers | None = None
    with tempfile.TemporaryDirectory(prefix="forum-bench-live-") as workdir:
        try:
            readers = Readers(CLIENT_PROCESSES)
            return 0 if run(Path(workdir), servers, readers) else 1
        except ServerError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        finally:
            if readers is not None:
                readers.stop()
            for server in servers:
                stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
