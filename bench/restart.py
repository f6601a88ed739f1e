"""Restart (issue 16): readers that missed replies while the server was down reconnect, resume
and replay them; how long until all have, with 0 gaps and 0 duplicates.

    python bench/restart.py [--quick] [--readers 5000] [--missed 10] [--processes 6]

The forum runs as bench/live.py runs it (temporary SQLite file, memory broker, no compression,
no keepalive pings, rate limits and socket caps off). N readers (bench/live_readers.py in
resuming mode, like the forum's page: htmx's backoff of 500 ms doubling with ±30 % jitter, then
`{"type":"resume","last_seq":N}` on every reconnection) connect from several loopback source
addresses; one reply tells each the thread's seq. The server is stopped (SIGTERM, as a deploy
does; its sockets close with 1012) and the readers start retrying. A second server process on
the same database posts --missed replies through the JSON API and stops. The forum then starts
again on its old port, and the bench measures, from that start (migrations included, as
docs/deploy.md's units run them: `python -m forum migrate`, then uvicorn, which listens only
once the app has started) until every reader has seen every missed reply: the last
reconnection, the last catch-up, gaps and duplicates over all readers. Target: ≤ 10 s, 0 gaps,
0 duplicates (exit 1 otherwise). The start-up alone is printed too: the poster's, with no reader
connected. --held-socket serves both runs of the forum on one listening socket that the bench
holds throughout, as systemd's socket activation does (docs/deploy.md): reconnections then wait
in its backlog while the forum is down instead of being refused. --profile FILE samples the
restarted server with py-spy from its spawn until the last catch-up (collapsed stacks:
`sort -t' ' -k2 -n FILE | tail`).
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from live import LIVE_SETTINGS, ForumTarget, uvicorn_options
from reader_pool import (
    DELIVERY_TIMEOUT_S,
    Readers,
    fail,
    load_average,
    raise_open_files,
    report_targets,
    run_with_readers,
    source_addresses,
    wait_for_deliveries,
)
from servers import Server, free_port, listening_socket, start_forum, stop_server

TARGET_S = 10.0
#: Connections the held socket queues while nobody accepts (the kernel caps it at somaxconn).
HELD_BACKLOG = 4096
#: Catch-up is waited for this long at most after the restart (the backoff can reach 60 s).
CATCH_UP_TIMEOUT_S = 120.0


def start(
    name: str,
    database: str,
    workdir: Path,
    port: int,
    on_spawn: Callable[[Server], None] | None = None,
    held: socket.socket | None = None,
) -> Server:
    """The forum as the reader benches run it, on port (or on the held socket's)."""
    # uvicorn listens again on a socket it is given, with its own backlog (2048 by default):
    # as large as the held socket's, as docs/deploy.md's unit has it.
    backlog = ["--backlog", str(HELD_BACKLOG)] if held is not None else []
    return start_forum(
        name,
        database,
        workdir,
        env=LIVE_SETTINGS,
        options=uvicorn_options(deflate=False) + backlog,
        port=port,
        on_spawn=on_spawn,
        held=held,
    )


def start_profiler(server: Server, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the server (without stopping it) into output, as collapsed stacks."""
    command = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(server.process.pid),
        "--output",
        str(output),
        "--format",
        "raw",
        "--nonblocking",
        "--duration",
        str(int(CATCH_UP_TIMEOUT_S)),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def post_while_down(database: str, workdir: Path, missed: int) -> tuple[float, float, float]:
    """A second server process on the same database posts missed replies, then stops.
    Returns how long its start took with no reader connected: the migrations, then the server
    until it answered, and the server's CPU seconds until then."""
    began = time.monotonic()
    spawned: list[float] = []
    poster = start(
        "poster", database, workdir, free_port(), lambda _: spawned.append(time.monotonic())
    )
    answering = time.monotonic()
    cpu_s = poster.cpu_seconds()
    try:
        target = ForumTarget(poster)
        for _ in range(missed):
            target.post(time.monotonic_ns())
        target.close()
    finally:
        stop_server(poster)
    return spawned[0] - began, answering - spawned[0], cpu_s


def run(args: argparse.Namespace, readers: Readers, workdir: Path) -> bool:
    """Connect, stop, post, restart, wait; print the figures; True when the targets are met."""
    database = f"sqlite://{workdir / 'forum.sqlite3'}"
    # Held by the bench from the first start to the end, as systemd's socket unit holds it.
    held = listening_socket(HELD_BACKLOG) if args.held_socket else None
    port = int(held.getsockname()[1]) if held is not None else free_port()
    try:
        return _run(args, readers, workdir, database, port, held)
    finally:
        if held is not None:
            held.close()


def _run(
    args: argparse.Namespace,
    readers: Readers,
    workdir: Path,
    database: str,
    port: int,
    held: socket.socket | None,
) -> bool:
    server = start("forum", database, workdir, port, held=held)
    try:
        target = ForumTarget(server)
        url = target.live_url
        sources = source_addresses(readers.processes, run=3)
        connected = readers.connect(url, args.readers, sources=sources, resume=True)
        if connected < args.readers:
            raise fail(f"only {connected:,} readers connected: {readers.stats()['errors']}")
        target.post(time.monotonic_ns())  # every reader learns the thread's seq
        stats = wait_for_deliveries(readers, connected, DELIVERY_TIMEOUT_S)
        if stats["received"] < connected:
            raise fail(f"the first reply reached {stats['received']:,} of {connected:,}")
        readers.collect()
        readers.ask("expect", args.missed)
        target.close()
    finally:
        stop_server(server)
    stopped = time.monotonic()
    migrate_alone_s, serve_alone_s, start_cpu_s = post_while_down(database, workdir, args.missed)
    down_s = time.monotonic() - stopped
    began_ns = time.monotonic_ns()
    spawned_ns: list[int] = []
    profiler: subprocess.Popen[bytes] | None = None

    def spawned(server: Server) -> None:
        nonlocal profiler
        spawned_ns.append(time.monotonic_ns())
        if args.profile:
            profiler = start_profiler(server, args.profile)

    server = start("forum", database, workdir, port, spawned, held)
    ready_s = (time.monotonic_ns() - began_ns) / 1e9
    ready_cpu_s = server.cpu_seconds()
    try:
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while True:
            stats = readers.stats()
            if stats["caught_up"] >= connected or time.monotonic() > deadline:
                break
            if stats["gave_up"] and stats["caught_up"] + stats["gave_up"] >= connected:
                break
            time.sleep(0.1)
        cpu_s = server.cpu_seconds()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file and ends
            profiler.wait(timeout=30)
        time.sleep(1.0)  # anything sent twice arrives now
        stats = readers.stats()
    finally:
        stop_server(server)
    caught_up_s = (stats["caught_up_last_ns"] - began_ns) / 1e9
    reconnected_s = (stats["reconnected_last_ns"] - began_ns) / 1e9
    first_s = (stats["reconnected_first_ns"] - began_ns) / 1e9
    print(
        f"start-up with no reader connected (the poster): migrations {migrate_alone_s:.2f} s, "
        f"then the server answered after {serve_alone_s:.2f} s, having run {start_cpu_s:.2f} s "
        f"of CPU; the restart: migrations "
        f"{(spawned_ns[0] - began_ns) / 1e9:.2f} s, the first reader reconnected after "
        f"{first_s:.2f} s"
    )
    print(
        f"{connected:,} readers; down {down_s:.1f} s while a second process posted "
        f"{args.missed} replies; from the restart: answering after {ready_s:.1f} s, the last "
        f"reader reconnected after {reconnected_s:.1f} s, the last caught up after "
        f"{caught_up_s:.1f} s; the longest from a reader's handshake to its catch-up "
        f"{stats['replay_longest_ns'] / 1e6:.0f} ms (the rest is the readers' backoff); the "
        f"server's CPU from its spawn to the last catch-up {cpu_s:.1f} s ({ready_cpu_s:.1f} s "
        f"until it answered): less a start-up's ({start_cpu_s:.2f} s, the poster's), "
        f"{(cpu_s - start_cpu_s) / max(connected, 1) * 1e3:.2f} ms per resumed reader"
    )
    print(
        f"caught up {stats['caught_up']:,} of {connected:,}; gaps {stats['gaps']:,}; duplicates "
        f"{stats['duplicates']:,}; refresh frames {stats['refreshes']:,}; gave up "
        f"{stats['gave_up']:,}; reconnections {stats['reconnects']:,}; other frames (presence) "
        f"{stats['other_frames']:,}; close codes "
        f"{dict(stats['close_codes'])}"
    )
    checks = {
        f"all caught up within {TARGET_S:g} s": stats["caught_up"] >= connected
        and caught_up_s <= TARGET_S,
        "0 gaps, 0 duplicates, 0 refreshes": not (
            stats["gaps"] or stats["duplicates"] or stats["refreshes"]
        ),
    }
    return report_targets(checks)


def main() -> int:
    """Run the bench; 0 when the targets are met, 1 when not, 2 on an error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 readers")
    parser.add_argument("--readers", type=int, default=5_000)
    parser.add_argument("--missed", type=int, default=10, help="replies posted while down")
    parser.add_argument("--processes", type=int, default=6, help="reader processes")
    parser.add_argument(
        "--held-socket",
        action="store_true",
        help="serve on one listening socket the bench holds across the restart, as systemd's "
        "socket activation does: reconnections wait in its backlog instead of being refused",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy's collapsed stacks of the catch-up, into this file"
    )
    args = parser.parse_args()
    if args.quick:
        args.readers = 500
    limit = raise_open_files(2 * args.readers + 1_000)
    print(
        f"bench/restart.py: {args.readers:,} readers in {args.processes} processes; open-files "
        f"limit {limit:,}; {load_average()}",
        flush=True,
    )
    return run_with_readers(
        args.processes, "forum-bench-restart-", lambda readers, tmp: run(args, readers, tmp)
    )


if __name__ == "__main__":
    sys.exit(main())
