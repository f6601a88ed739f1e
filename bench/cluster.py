"""Several nodes (issue 16): 3 forum processes on PostgreSQL and Redis, readers spread over them,
posters on all three; then one process with the in-memory broker, same readers and posts, same
run, for the cost of the Redis hop per delivery.

    python bench/cluster.py [--quick] [--readers 15000] [--processes 2] [--seconds 10]

Each run creates its own PostgreSQL database (dropped afterwards) on BENCH_DATABASE_URL's server
(default postgres://postgres@127.0.0.1:5432/postgres) and uses a Redis channel prefix of its own
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; nothing is flushed). The forum runs as
bench/live.py runs it (no compression, no keepalive pings, rate limits and socket caps off).
Readers (bench/live_readers.py) connect from several loopback source addresses, a third to each
node; one poster per node posts 1 reply a second for --seconds, and every reader notes each
reply frame. Printed for both set-ups: p50/p95/p99 post→receipt, frames lost, sockets dropped,
and the servers' CPU per delivery (all the forum processes together, from /proc, less their idle
rate), and Redis's CPU per delivery (from its INFO; Redis may serve other work meanwhile,
and its idle CPU is included). Exit 1 when the cluster's
p99 is over 250 ms (bench/live.py's target for one process) or a frame was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from live import LIVE_SETTINGS, ForumTarget, uvicorn_options, warm_up
from reader_pool import (
    Burst,
    Readers,
    fail,
    load_average,
    measure_burst,
    raise_open_files,
    report_targets,
    run_with_readers,
    source_addresses,
    wait_for_quiet,
)
from servers import Server, start_forum, stop_server

PG_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NODES = 3
RATE = 1.0
SETTLE_S = 3.0
#: Before the burst, wait at most this long for other work on the machine to end.
QUIET_WAIT_S = 120.0
TARGET_P99_MS = 250.0


async def _admin(statement: str) -> None:
    import asyncpg

    admin = urlparse(PG_SERVER)._replace(scheme="postgresql", path="/postgres").geturl()
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def unreachable() -> list[str]:
    """The services this bench needs that do not accept a connection."""
    missing = []
    for name, url, default_port in (("PostgreSQL", PG_SERVER, 5432), ("Redis", REDIS_URL, 6379)):
        parsed = urlparse(url)
        try:
            socket.create_connection((parsed.hostname, parsed.port or default_port), 2).close()
        except OSError:
            missing.append(f"{name} at {url}")
    return missing


def redis_cpu_seconds() -> float:
    """Redis's CPU time so far (INFO cpu: its main thread and children, user and system)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@contextlib.contextmanager
def own_database() -> Iterator[str]:
    """A new PostgreSQL database for this run, dropped afterwards."""
    name = f"bench_cluster_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlparse(PG_SERVER)._replace(path=f"/{name}").geturl()
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def measure(
    name: str,
    nodes: list[Server],
    readers: Readers,
    args: argparse.Namespace,
    run: int,
) -> tuple[Burst, float]:
    """One poster per node (NODES in all, on the nodes in turn), readers spread over the nodes."""
    targets = [ForumTarget(nodes[number % len(nodes)]) for number in range(NODES)]
    try:
        for target in targets:
            warm_up(target, readers)
        sources = source_addresses(readers.processes, run)
        urls = [target.live_url for target in targets[: len(nodes)]]
        connected = readers.connect(urls, args.readers, sources=sources)
        if connected < args.readers:
            errors = dict(readers.stats()["errors"])
            print(f"{name}: only {connected:,} of {args.readers:,} readers connected: {errors}")
        time.sleep(SETTLE_S)
        waited, busy = wait_for_quiet(QUIET_WAIT_S)
        if waited > 1.5:
            print(f"    waited {waited:.0f} s for other work to end ({busy:.2f} cores busy)")
        posts = [target.post for target in targets]
        redis_before = redis_cpu_seconds()
        burst = measure_burst(nodes, readers, posts, rate=RATE, seconds=args.seconds)
        redis_us = (redis_cpu_seconds() - redis_before) / max(len(burst.latencies_ms), 1) * 1e6
        print(burst.line(name), flush=True)
        if burst.split is not None:
            print(burst.split.line(len(burst.latencies_ms)))
        print(f"{'':<24}Redis CPU {redis_us:.2f} µs/delivery (idle included; shared Redis)")
        return burst, redis_us
    finally:
        readers.close()
        for target in targets:
            target.close()


def run(args: argparse.Namespace, readers: Readers, workdir: Path) -> bool:
    """The cluster, then one process; print the comparison; True when the targets are met."""
    options = uvicorn_options(deflate=False)
    servers: list[Server] = []
    try:
        with own_database() as database:
            cluster_env = {
                **LIVE_SETTINGS,
                "BROKER_URL": REDIS_URL,
                "BROKER_PREFIX": f"bench-{uuid.uuid4().hex[:10]}",
            }
            for number in range(NODES):
                node = start_forum(
                    f"node-{number}", database, workdir, env=cluster_env, options=options
                )
                servers.append(node)
            cluster, cluster_redis_us = measure(
                f"{NODES} nodes, Redis", servers, readers, args, run=5
            )
            for server in servers:
                stop_server(server)
            single = start_forum("single", database, workdir, env=LIVE_SETTINGS, options=options)
            servers.append(single)
            one, one_redis_us = measure("1 process, memory", [single], readers, args, run=6)
            stop_server(single)
    finally:
        for server in servers:
            stop_server(server)
    hop_us = cluster.cpu_us - one.cpu_us
    print(
        f"\nthe Redis hop, per delivery: {hop_us:+.1f} µs of forum CPU ({cluster.cpu_us:.1f} on "
        f"{NODES} nodes against {one.cpu_us:.1f} in one process), "
        f"{cluster_redis_us - one_redis_us:+.2f} µs of Redis CPU; p50 "
        f"{cluster.percentile(0.5) - one.percentile(0.5):+.1f} ms, p99 "
        f"{cluster.percentile(0.99) - one.percentile(0.99):+.1f} ms"
    )
    checks = {
        f"p99 ≤ {TARGET_P99_MS:g} ms on {NODES} nodes at {cluster.readers:,} readers": (
            cluster.percentile(0.99) <= TARGET_P99_MS
        ),
        "no frame lost, no socket dropped": not (cluster.lost or cluster.dropped),
    }
    return report_targets(checks)


def main() -> int:
    """Run the bench; 0 when the targets are met, 1 when not, 2 on an error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 readers, 5 s")
    parser.add_argument("--readers", type=int, default=15_000)
    parser.add_argument(
        "--processes", type=int, default=2, help="reader processes (see bench/readers.py)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="posting time")
    args = parser.parse_args()
    if args.quick:
        args.readers, args.seconds = 600, 5.0
    missing = unreachable()
    if missing:
        raise fail("not reachable: " + ", ".join(missing))
    limit = raise_open_files(2 * args.readers + 1_000)
    print(
        f"bench/cluster.py: {args.readers:,} readers in {args.processes} processes, {NODES} "
        f"posters at {RATE:g} post/s for {args.seconds:g} s; PostgreSQL {PG_SERVER}, Redis "
        f"{REDIS_URL}; open-files limit {limit:,}; {load_average()}",
        flush=True,
    )
    return run_with_readers(
        args.processes, "forum-bench-cluster-", lambda readers, tmp: run(args, readers, tmp)
    )


if __name__ == "__main__":
    sys.exit(main())
