"""The write path against Isso's, side by side, with the same client (issue 16).

    python bench/write.py [--seconds 8] [--no-isso] [--no-postgres]

Eight concurrent posters through each JSON API, keep-alive, for a bounded time and count; the
same light client for every server (bench/http_client.py: httpx cost more CPU per post than the
forum, on the cores the servers share):

- **Isso 0.14** (`POST /new`, guard and moderation off), installed by this bench into its own
  virtualenv (`var/bench/isso-venv`, `pip install isso==0.14.0`), served as its `isso run` does.
- **forum, embedded defaults** (SQLite file, in-process broker): the full write path (HTTP,
  session, CSRF, validation, sanitising, insert, stream, events, live render and publish,
  response), with no reader connected and nobody following, which is the work Isso does.
  Then at half that rate (paced) for its p99; then with 50 followers (notification and
  outbox rows); then with 100 readers connected (their frames).
- **forum on PostgreSQL** (when reachable): the same two first figures.
- **the floor**: a bare Starlette app doing only the insert, with the forum's durability
  (bench/insert_app.py), so the note can say what HTTP and one durable insert cost here.
- **kill -9 mid-burst**, on SQLite and on PostgreSQL: the server is killed once KILL_AFTER
  posts were acknowledged, started again on the same database, and every acknowledged reply
  must be there (missing: 0).

Targets: forum posts/s >= 3 x Isso's in the same run; p99 <= 50 ms at half the forum's rate.
Rate limits are off for every server (the bench posts far faster than any person may).
Durability of each side is printed beside the figures (tests/test_durability.py makes the
same kill -9 check as a test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_client import KeepAliveClient
from bench.servers import (
    PROJECT_ROOT,
    Server,
    free_port,
    start_forum,
    start_process,
    start_server,
    stop_server,
)

POSTERS = 8
SLUG = "bidens-armed-shift-ukraine-authorized-to-strike-inside-russia"
ISSO_VERSION = "0.14.0"
ISSO_VENV = PROJECT_ROOT / "var" / "bench" / "isso-venv"
PASSWORD = "correct horse battery"
#: Every loop is bounded in count as well as in time.
MAX_POSTS = 20_000
FOLLOWERS = 50
READERS = 100
#: The kill -9 check kills the server once this many posts were acknowledged.
KILL_AFTER = 300
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")

#: One post: send it with this client; True when it was accepted.
Post = Callable[[KeepAliveClient, int], Awaitable[bool]]


@dataclass
class Result:
    """What one run of posters measured."""

    name: str
    posts: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    failed: int = 0

    @property
    def rate(self) -> float:
        return self.posts / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def cpu_ms_per_post(self) -> float:
        return 1000 * self.cpu_seconds / self.posts if self.posts else float("nan")

    def line(self) -> str:
        return (
            f"{self.name:<44} {self.rate:8.1f} posts/s   p50 {self.percentile(0.5):6.1f} ms"
            f"   p99 {self.percentile(0.99):6.1f} ms"
            f"   server CPU {self.cpu_ms_per_post:5.2f} ms/post"
            + (f"   {self.failed} refused" if self.failed else "")
        )


async def run_posters(
    name: str,
    server: Server,
    clients: list[KeepAliveClient],
    post: Post,
    seconds: float,
    rate: float | None = None,
) -> Result:
    """Each client posts in a loop (or at rate posts/s in all, paced) for seconds."""
    result = Result(name, 0, 0.0)
    stop_at = time.perf_counter() + seconds
    counter = iter(range(MAX_POSTS))
    interval = len(clients) / rate if rate else 0.0

    async def poster(client: KeepAliveClient, offset: int) -> None:
        next_at = time.perf_counter() + offset * interval / len(clients)
        while time.perf_counter() < stop_at:
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
            number = next(counter, None)
            if number is None:
                return
            started = time.perf_counter()
            ok = await post(client, number)
            result.latencies_ms.append(1000 * (time.perf_counter() - started))
            if ok:
                result.posts += 1
            else:
                result.failed += 1

    cpu_before = process_cpu_seconds(server)
    began = time.perf_counter()
    await asyncio.gather(*(poster(client, i) for i, client in enumerate(clients)))
    result.seconds = time.perf_counter() - began
    result.cpu_seconds = process_cpu_seconds(server) - cpu_before
    return result


def process_cpu_seconds(server: Server) -> float:
    """User and system CPU of the server process, its ended threads included (Isso's threaded
    server runs each request on a new thread)."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Isso ------------------------------------------------------------------------------------------


def isso_python() -> Path:
    """Isso's interpreter, installing Isso into the bench's own virtualenv the first time."""
    python = ISSO_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing isso {ISSO_VERSION} into {ISSO_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ISSO_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"isso=={ISSO_VERSION}"], check=True
        )
    return python


def start_isso(workdir: Path) -> Server:
    """Isso with guard and moderation off, on a loopback port, as `isso run` serves it."""
    port = free_port()
    config = workdir / "isso.cfg"
    config.write_text(
        "[general]\n"
        f"dbpath = {workdir / 'isso.db'}\n"
        f"host = http://127.0.0.1:{port}/\n"
        "[moderation]\nenabled = false\n"
        "[guard]\nenabled = false\n"
        f"[server]\nlisten = http://127.0.0.1:{port}/\n"
    )
    command = [str(isso_python().parent / "isso"), "-c", str(config), "run"]
    return start_process("isso", command, port, "/info", {}, workdir)


def isso_clients(server: Server) -> list[KeepAliveClient]:
    headers = {"Origin": server.url, "Referer": server.url + "/bench"}
    return [KeepAliveClient(server.url, headers) for _ in range(POSTERS)]


async def isso_post(client: KeepAliveClient, number: int) -> bool:
    status, _ = await client.post_json(
        "/new",
        {"text": f"Bench reply number {number}.", "author": "bench", "title": "Bench"},
        params={"uri": "/bench"},
    )
    return status == 201


# forum -----------------------------------------------------------------------------------------


@dataclass
class Member:
    """A signed-in member: httpx for the odd request, a light client for the posts."""

    client: httpx.AsyncClient
    csrf: str
    poster: KeepAliveClient


async def sign_up(server: Server) -> Member:
    client = httpx.AsyncClient(base_url=server.url, timeout=30)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    created = await client.post("/api/accounts", json={"username": name, "password": PASSWORD})
    created.raise_for_status()
    session = await client.post("/api/session", json={"username": name, "password": PASSWORD})
    session.raise_for_status()
    csrf = session.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    poster = KeepAliveClient(server.url, {"Cookie": cookies, "X-CSRF-Token": csrf})
    return Member(client, csrf, poster)


RUN = uuid.uuid4().hex[:6]


async def forum_post(client: KeepAliveClient, number: int) -> bool:
    status, _ = await client.post_json(
        f"/api/articles/{SLUG}/replies", {"body": f"Bench reply {RUN}-{number}."}
    )
    return status == 201


async def follow(member: Member) -> None:
    response = await member.client.post(f"/a/{SLUG}/follow", data={"csrf_token": member.csrf})
    if response.status_code >= 400:
        raise RuntimeError(f"follow refused: {response.status_code} {response.text[:200]}")


READER_SCRIPT = """
import asyncio, sys, uuid, websockets
async def reader(url):
    # A visitor each: the forum caps the sockets of one visitor (LIVE_SOCKETS_PER_VISITOR).
    cookie = {"Cookie": "forum_visitor=" + uuid.uuid4().hex[:22]}
    async with websockets.connect(url, max_queue=None, additional_headers=cookie) as ws:
        print("open", flush=True)
        async for _ in ws:
            pass
async def main():
    await asyncio.gather(*(reader(sys.argv[1]) for _ in range(int(sys.argv[2]))))
asyncio.run(main())
"""


def start_readers(server: Server, count: int) -> subprocess.Popen[str]:
    """count WebSocket readers of the thread, in a process of their own."""
    url = server.ws_url + f"/a/{SLUG}/live"
    process = subprocess.Popen(
        [sys.executable, "-c", READER_SCRIPT, url, str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for _ in range(count):
        if process.stdout.readline().strip() != "open":
            raise RuntimeError("a reader could not connect")
    return process


async def forum_runs(server: Server, label: str, seconds: float, extras: bool) -> list[Result]:
    posters = [await sign_up(server) for _ in range(POSTERS)]
    clients = [member.poster for member in posters]
    await run_posters("warm-up", server, clients, forum_post, 1.0)
    full = await run_posters(f"forum {label}, nobody reading", server, clients, forum_post, seconds)
    half = await run_posters(
        f"forum {label}, at half that rate (paced)",
        server,
        clients,
        forum_post,
        seconds,
        rate=full.rate / 2,
    )
    results = [full, half]
    if extras:
        followers = [await sign_up(server) for _ in range(FOLLOWERS)]
        for member in followers:
            await follow(member)
        results.append(
            await run_posters(
                f"forum {label}, {FOLLOWERS} followers", server, clients, forum_post, seconds
            )
        )
        readers = start_readers(server, READERS)
        try:
            results.append(
                await run_posters(
                    f"forum {label}, {FOLLOWERS} followers + {READERS} readers",
                    server,
                    clients,
                    forum_post,
                    seconds,
                )
            )
        finally:
            readers.terminate()
            readers.wait()
        for member in followers:
            await member.client.aclose()
    for member in posters:
        await member.client.aclose()
        await member.poster.aclose()
    return results


# The floor and the crash ---------------------------------------------------------------------


def start_insert_floor(workdir: Path) -> Server:
    """bench/insert_app.py on a loopback port, its SQLite file in workdir."""
    env = {"BASELINE_DATABASE": str(workdir / "insert-floor.sqlite3")}
    app = ["--app-dir", "bench", "insert_app:app"]
    return start_server("insert-floor", app, "/ready", env, workdir, free_port())


async def floor_post(client: KeepAliveClient, number: int) -> bool:
    status, _ = await client.post_json("/new", {"body": f"Bench reply {RUN}-{number}."})
    return status == 201


async def crash_check(label: str, database_url: str, workdir: Path, env: dict[str, str]) -> str:
    """Post from every poster until the server is killed (SIGKILL once KILL_AFTER posts were
    acknowledged), start it again on the same database, and count the acknowledged replies
    that are not there."""
    server = start_forum(f"crash-{label}", database_url, workdir, env=env)
    acknowledged: list[int] = []
    try:
        posters = [await sign_up(server) for _ in range(POSTERS)]

        async def post_until_killed(member: Member) -> None:
            for number in range(MAX_POSTS):
                try:
                    response = await member.client.post(
                        f"/api/articles/{SLUG}/replies", json={"body": f"Crash {RUN}-{number}."}
                    )
                except httpx.TransportError:
                    return
                if response.status_code == 201:
                    acknowledged.append(int(response.json()["id"]))
                if len(acknowledged) >= KILL_AFTER and server.process.poll() is None:
                    server.process.kill()

        await asyncio.gather(*(post_until_killed(member) for member in posters))
        for member in posters:
            await member.client.aclose()
    finally:
        stop_server(server)
    again = start_forum(f"crash-{label}-restarted", database_url, workdir, env=env)
    try:
        present = await reply_ids(database_url, acknowledged)
    finally:
        stop_server(again)
    missing = len(set(acknowledged) - present)
    verdict = "PASS" if missing == 0 and acknowledged else "FAIL"
    return (
        f"kill -9 mid-burst, forum/{label}: {len(acknowledged)} posts acknowledged, restarted,"
        f" {missing} missing (target 0) {verdict}"
    )


async def reply_ids(database_url: str, ids: list[int]) -> set[int]:
    """Which of ids are replies in the database."""
    if database_url.startswith("sqlite://"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite://").split("?", 1)[0])
        try:
            rows = conn.execute("SELECT id FROM replies").fetchall()
        finally:
            conn.close()
    else:
        import asyncpg

        pg = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
        try:
            rows = await pg.fetch("SELECT id FROM replies")
        finally:
            await pg.close()
    return {int(row[0]) for row in rows} & set(ids)


def postgres_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def durability(workdir: Path) -> list[str]:
    """How each side makes a commit durable, read from the databases themselves."""
    import sqlite3

    lines = []
    forum_db = sqlite3.connect(workdir / "forum.sqlite3")
    journal = forum_db.execute("PRAGMA journal_mode").fetchone()[0]
    forum_db.close()
    lines.append(
        f"forum/SQLite: journal_mode={journal}, synchronous=FULL (set per connection by"
        " forum/db.py): the WAL is fsynced at every commit, one per group of posts that"
        " arrived together (forum/group_commit.py), before any of them is answered 201"
    )
    isso_db = workdir / "isso.db"
    if isso_db.exists():
        conn = sqlite3.connect(isso_db)
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        lines.append(
            f"Isso/SQLite: journal_mode={journal}, synchronous=FULL (SQLite's defaults; a new"
            " connection per query): the database file is fsynced at every commit"
        )
    lines.append("forum/PostgreSQL: synchronous_commit=on, fsync=on (the server's defaults)")
    return lines


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main_async(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="forum-bench-write-"))
    print(f"bench/write.py: {POSTERS} posters, {args.seconds:.0f} s a run; {load()}")
    isso: Result | None = None
    if not args.no_isso:
        server = start_isso(workdir)
        try:
            clients = isso_clients(server)
            await run_posters("warm-up", server, clients, isso_post, 1.0)
            isso = await run_posters(
                "Isso 0.14 POST /new", server, clients, isso_post, args.seconds
            )
            for client in clients:
                await client.aclose()
        finally:
            stop_server(server)
        print(isso.line(), flush=True)

    floor_server = start_insert_floor(workdir)
    try:
        clients = [KeepAliveClient(floor_server.url) for _ in range(POSTERS)]
        await run_posters("warm-up", floor_server, clients, floor_post, 1.0)
        floor = await run_posters(
            "bare Starlette + one SQLite insert (floor)",
            floor_server,
            clients,
            floor_post,
            args.seconds,
        )
        for client in clients:
            await client.aclose()
    finally:
        stop_server(floor_server)
    print(floor.line(), flush=True)

    env = {"RATE_LIMITS": "off", "ACCESS_LOG": "off", "MAIL_DIR": str(workdir / "mail")}
    forum = start_forum("forum-sqlite", f"sqlite://{workdir / 'forum.sqlite3'}", workdir, env=env)
    try:
        results = await forum_runs(forum, "SQLite", args.seconds, extras=True)
    finally:
        stop_server(forum)
    for result in results:
        print(result.line(), flush=True)

    if not args.no_postgres and postgres_reachable():
        await reset_postgres(PG_URL)
        forum = start_forum("forum-postgres", PG_URL, workdir, env=env)
        try:
            pg_results = await forum_runs(forum, "PostgreSQL", args.seconds, extras=False)
        finally:
            stop_server(forum)
        for result in pg_results:
            print(result.line(), flush=True)
        results += pg_results

    crashes = [await crash_check("SQLite", f"sqlite://{workdir / 'crash.sqlite3'}", workdir, env)]
    if not args.no_postgres and postgres_reachable():
        await reset_postgres(PG_URL)
        crashes.append(await crash_check("PostgreSQL", PG_URL, workdir, env))

    print()
    for line in durability(workdir):
        print("durability: " + line)
    for line in crashes:
        print("durability: " + line)
    ok = all(line.endswith("PASS") for line in crashes)
    print(
        f"posts/s forum / bare insert floor: {results[0].rate / floor.rate:.2f}"
        f"   (forum CPU {results[0].cpu_ms_per_post:.2f} ms/post,"
        f" floor {floor.cpu_ms_per_post:.2f} ms/post)"
    )
    if isso is not None:
        ratio = results[0].rate / isso.rate
        passed = ratio >= 3.0
        ok &= passed
        print(f"posts/s forum / Isso: {ratio:.2f} (target >= 3.00) {'PASS' if passed else 'FAIL'}")
    half_p99 = results[1].percentile(0.99)
    passed = half_p99 <= 50.0
    ok &= passed
    print(f"p99 at half rate: {half_p99:.1f} ms (target <= 50) {'PASS' if passed else 'FAIL'}")
    print(load())
    print(json.dumps({r.name: round(r.rate, 1) for r in results}))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--no-isso", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    # uvloop, as the servers run on: the posters' own CPU comes off the machine's two cores.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
