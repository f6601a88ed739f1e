"""Most readers on one box (issue 16): the largest N the forum serves within the targets, and the
`websockets.broadcast()` baseline's N in the same run.

    python bench/readers.py [--quick] [--start 5000] [--step 2500] [--max 40000]
                            [--processes 2] [--seconds 10] [--no-baseline]

The forum runs as bench/live.py runs it (temporary SQLite file, memory broker, no compression,
no keepalive pings, RATE_LIMITS=off, LIVE_SOCKETS_PER_VISITOR=0, LIVE_SOCKETS_PER_ADDRESS=0).
Readers (bench/live_readers.py, picows) live in a few processes (2 by default: on this 2-core
machine 6 of them spent 16-17 µs of CPU per frame, waking up and switching for nearly every
frame, and 2 spend 9-10 µs; the server spends 11-15), each connecting from its own
loopback source address (127.x.y.z, so each has its own ephemeral ports) to the server on
127.0.0.1; every process's open-files limit is raised (its hard limit too, when allowed; N stops
short of it, as the server needs a descriptor per reader). N steps up from --start by --step, at
most to --max (and --max itself last), keeping the sockets already open. At each N, 4 posters
post 1 reply a second each for --seconds; N passes when the p95 post→receipt is at most 500 ms,
every frame arrived, no socket was dropped, and the server's RSS stayed under 4 GiB. Each burst
waits first, at most QUIET_WAIT_S, until the machine is nearly idle (other work on a shared 2-core
machine can take more CPU than the server), and says when it was disturbed anyway. The first N
that fails ends the steps. Then the same for bench/baselines/websockets_broadcast.py (frames of
the forum's size, ids in the forum's frame shape). Exit 1 when the forum's N is under 15,000.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from live import (
    BroadcastTarget,
    ForumTarget,
    Target,
    start_live_forum,
    warm_up,
)
from reader_pool import (
    Burst,
    Readers,
    load_average,
    measure_burst,
    raise_open_files,
    source_addresses,
    wait_for_quiet,
)
from servers import Server, ServerError, free_port, start_process, stop_server

BENCH_DIR = Path(__file__).resolve().parent
POSTERS = 4
RATE = 1.0
P95_LIMIT_MS = 500.0
RSS_LIMIT_KIB = 4 * 1024 * 1024
TARGET_READERS = 15_000
SETTLE_S = 3.0
#: Before each burst, wait at most this long for other work on the machine to end.
QUIET_WAIT_S = 120.0
#: Descriptors a server needs besides its readers' sockets.
FD_MARGIN = 500


def passes(burst: Burst, count: int) -> list[str]:
    """Why a burst at count readers fails the targets (empty: it passes)."""
    reasons = []
    if burst.readers < count:
        reasons.append(f"{count - burst.readers:,} sockets gone before the posts")
    if burst.percentile(0.95) > P95_LIMIT_MS:
        reasons.append(f"p95 {burst.percentile(0.95):.0f} ms > {P95_LIMIT_MS:.0f} ms")
    if burst.lost:
        reasons.append(f"{burst.lost:,} frames lost")
    if burst.dropped:
        reasons.append(f"{burst.dropped:,} sockets dropped {burst.close_codes}")
    if burst.rss_kib >= RSS_LIMIT_KIB:
        reasons.append(f"RSS {burst.rss_kib / 1024:,.0f} MiB ≥ 4 GiB")
    return reasons


def step_up(
    name: str,
    server: Server,
    targets: list[Target],
    readers: Readers,
    args: argparse.Namespace,
    run: int,
) -> int:
    """Step N up until a burst fails; the largest N that passed (0: none)."""
    best = 0
    sources = source_addresses(readers.processes, run)
    try:
        counts = list(range(args.start, args.max + 1, args.step))
        if counts and counts[-1] < args.max:
            counts.append(args.max)  # the last N allowed (e.g. by the open-files limit) too
        for count in counts:
            opened = int(readers.stats()["open"])
            connected = readers.connect(targets[0].live_url, count - opened, sources=sources)
            if connected < count:
                errors = dict(readers.stats()["errors"])
                print(f"{name:<24}{count:>8,}  only {connected:,} connected: {errors}")
                break
            time.sleep(SETTLE_S)
            waited, busy = wait_for_quiet(QUIET_WAIT_S)
            if waited > 1.5:
                print(f"    waited {waited:.0f} s for other work to end ({busy:.2f} cores busy)")
            posts = [target.post for target in targets]
            burst = measure_burst([server], readers, posts, rate=RATE, seconds=args.seconds)
            reasons = passes(burst, count)
            print(burst.line(name) + ("  FAIL: " + "; ".join(reasons) if reasons else ""))
            if burst.split is not None:
                print(burst.split.line(len(burst.latencies_ms)))
            sys.stdout.flush()
            if reasons:
                break
            best = count
    finally:
        readers.close()
    return best


def measure(
    name: str,
    server: Server,
    make: Callable[[Server, int], Target],
    readers: Readers,
    args: argparse.Namespace,
    run: int,
) -> tuple[int, int]:
    """Warm up, step up; the largest N and the size of a reply frame."""
    targets = [make(server, number) for number in range(POSTERS)]
    try:
        frame_bytes = warm_up(targets[0], readers)
        print(f"{name}: a reply frame is {frame_bytes:,} bytes", flush=True)
        return step_up(name, server, targets, readers, args, run), frame_bytes
    finally:
        for target in targets:
            target.close()
        stop_server(server)


def forum_target(server: Server, number: int) -> Target:
    """A poster on the forum: its own member."""
    return ForumTarget(server)


def broadcast_target(server: Server, number: int) -> Target:
    """A poster on the baseline: its own range of reply ids."""
    target = BroadcastTarget(server)
    target.next_id = number * 10_000_000
    return target


def main() -> int:
    """Run the bench; 0 when the forum's N reaches 15,000, 1 when not, 2 on an error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200, 400, 600 readers; 5 s each")
    parser.add_argument("--start", type=int, default=5_000)
    parser.add_argument("--step", type=int, default=2_500)
    parser.add_argument("--max", type=int, default=40_000, help="the last N tried")
    parser.add_argument("--processes", type=int, default=2, help="reader processes")
    parser.add_argument("--seconds", type=float, default=10.0, help="posting time at each N")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.start, args.step, args.max, args.seconds = 200, 200, 600, 5.0
    limit = raise_open_files(2 * args.max + 1_000)
    if args.max > limit - FD_MARGIN:
        # The server holds one descriptor per reader: past its limit, accept() fails.
        print(f"note: the open-files limit is {limit:,}: N stops at {limit - FD_MARGIN:,}")
        args.max = limit - FD_MARGIN
    print(
        f"bench/readers.py: N from {args.start:,} by {args.step:,} to {args.max:,}; {POSTERS} "
        f"posters at {RATE:g} post/s for {args.seconds:g} s at each N; readers in "
        f"{args.processes} processes; open-files limit {limit:,}; {load_average()}",
        flush=True,
    )
    servers: list[Server] = []
    readers = Readers(args.processes)
    found: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="forum-bench-readers-") as tmp:
        workdir = Path(tmp)
        try:
            forum = start_live_forum("forum", workdir, servers, deflate=False)
            found["forum"], frame_bytes = measure(
                "forum", forum, forum_target, readers, args, run=0
            )
            if not args.no_baseline:
                command = [sys.executable, str(BENCH_DIR / "baselines" / "websockets_broadcast.py")]
                env = {"BASELINE_FRAME_BYTES": str(frame_bytes)}
                baseline = start_process(
                    "websockets-broadcast", command, free_port(), "/health", env, workdir
                )
                servers.append(baseline)
                found["websockets-broadcast"], _ = measure(
                    "websockets-broadcast", baseline, broadcast_target, readers, args, run=1
                )
        except ServerError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        finally:
            readers.stop()
            for server in servers:
                stop_server(server)
    print(f"\nmost readers within the targets (p95 ≤ {P95_LIMIT_MS:.0f} ms, none lost or dropped,")
    print(f"RSS < 4 GiB), N from {args.start:,} by {args.step:,} ({load_average()}):")
    for name, count in found.items():
        note = "  (not even the first N)" if not count else ""
        if count and count >= args.max:
            note = "  (every N tried passed)"
        print(f"  {name:<24}{count:>8,}{note}")
    if found.get("websockets-broadcast"):
        print(f"  forum / baseline: {found['forum'] / found['websockets-broadcast']:.2f}")
    passed = found["forum"] >= TARGET_READERS
    print(f"target: forum N ≥ {TARGET_READERS:,}  {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
