"""Faults of a deployment on PostgreSQL and Redis, caused for real: a node killed with SIGKILL,
Redis restarted, PostgreSQL restarted. Readers catch up with no gap and no duplicate, nothing
acknowledged is lost, and the forum recovers without being restarted.

Redis and PostgreSQL are servers of these tests' own (started from the machine's binaries on
free ports), so that stopping them cannot disturb the shared ones other tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import (
    SLUG,
    LiveServer,
    _free_port,
    own_postgres_database,
    start_server,
    stop_server,
)
from tests.test_live import (
    TIMEOUT,
    connect,
    members,
    new_visitor,
    posted,
    read_all,
    reading,
    resume,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _binary(name: str, *folders: str) -> str:
    """The path of a server binary, or skip (fail under CI=true) when the machine lacks it."""
    found = next(
        (str(p) for folder in folders for p in sorted(Path("/").glob(folder + name))), None
    ) or shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI=true")
        pytest.skip(f"{name} is not installed")
    return found


def _wait_for_port(port: int, up: bool, seconds: float = 20) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'} in {seconds} s")


@dataclass
class OwnRedis:
    """A redis-server of the test's own, which the test may stop and start again."""

    binary: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                *("--save", ""),
                *("--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, up=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        _wait_for_port(self.port, up=False)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    """A running redis-server on a free port, killed afterwards."""
    redis = OwnRedis(_binary("redis-server"), _free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temporary folder)."""

    bin_dir: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["su", "postgres", "-c", " ".join(f"'{part}'" for part in command)]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1"
        log = str(self.data) + ".log"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        _wait_for_port(self.port, up=True)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A running PostgreSQL cluster of this test's own, stopped and removed afterwards."""
    initdb = Path(_binary("initdb", "usr/lib/postgresql/*/bin/"))
    # Not under pytest's tmp_path: run as root, the postgres user could not enter it.
    folder = Path(tempfile.mkdtemp(prefix="forum-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        cluster = OwnPostgres(initdb.parent, folder / "data", _free_port())
        cluster._run(
            "initdb", "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def node(
    database_url: str, log_dir: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], LiveServer]]:
    """A forum server process, stopped afterwards unless the test killed it."""
    process, live = start_server(database_url, log_dir, **env)
    try:
        yield process, live
    finally:
        if process.poll() is None:
            stop_server(process)


def _body(response: httpx.Response) -> str:
    return f"{response.status_code} {response.headers.get('retry-after')} {response.text[:300]}"


# PostgreSQL restarted ---------------------------------------------------------------------------


async def test_postgres_restarted_answers_503_meanwhile_and_the_forum_recovers(
    own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    with node(own_postgres.url, tmp_path) as (_, server):
        async with members(server, 1) as (author,):
            await posted(author, "Before the restart")
            own_postgres.stop()

            async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as anon:
                for path in ("/api/articles", f"/api/articles/{SLUG}/replies", "/healthz"):
                    down = await anon.get(path)
                    assert down.status_code == 503, _body(down)
                    assert int(down.headers["retry-after"]) > 0, _body(down)
                page = await anon.get(f"/a/{SLUG}")
                assert page.status_code == 503 and "Try again" in page.text, _body(page)

            refused = await author.post_reply("While the database is down")
            assert refused.status_code == 503, _body(refused)
            assert refused.json()["errors"]["detail"]

            own_postgres.start()
            deadline = time.monotonic() + TIMEOUT
            while True:  # the pool opens new connections: no restart of the forum
                replies = await author.client.get(f"/api/articles/{SLUG}/replies")
                if replies.status_code == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert replies.status_code == 200, _body(replies)
            await posted(author, "After the restart")
            listed = await author.client.get(
                f"/api/articles/{SLUG}/replies", params={"order": "oldest"}
            )
            bodies = [reply["body_html"] for reply in listed.json()["replies"]]
            # The refused post was not half-written.
            assert bodies == ["<p>Before the restart</p>\n", "<p>After the restart</p>\n"]


# Redis restarted --------------------------------------------------------------------------------


async def test_redis_restarted_delivery_resumes_with_catch_up_and_presence(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    with own_postgres_database("forum_faults") as database:
        env = {"BROKER_URL": own_redis.url}
        with (
            node(database, tmp_path, **env) as (_, first),
            node(database, tmp_path, **env) as (
                _,
                second,
            ),
        ):
            async with (
                members(second, 1) as (poster,),
                connect(first, **new_visitor()) as reader,
                connect(second, **new_visitor()) as other_reader,
            ):
                await reading(reader, 2)
                first_reply = await posted(poster, "Before")
                assert await read_all(reader, 1) == [(1, first_reply)]

                own_redis.stop()
                missed = [await posted(poster, f"While Redis is down {i}") for i in range(3)]
                own_redis.start()
                started = time.monotonic()

                # Caught up from the database: each event once, in order, none missing.
                got = await read_all(reader, 3)
                assert got == list(zip(range(2, 5), missed, strict=True))
                caught_up = time.monotonic() - started
                print(f"caught up {caught_up:.2f} s after Redis came back")

                # Live again through Redis, and the restarted Redis knows who is reading.
                after = await posted(poster, "After")
                assert await read_all(reader, 1) == [(5, after)]
                assert [seq for seq, _ in await read_all(other_reader, 5)] == [1, 2, 3, 4, 5]
                # A third reader: the count sums both processes' reports, which the restarted
                # Redis has again (not only after the next heartbeat, 15 s on).
                async with connect(second, **new_visitor()) as third:
                    await reading(third, 3)
                    await reading(reader, 3)


# A node killed ----------------------------------------------------------------------------------


async def test_a_killed_node_s_readers_catch_up_on_another_with_no_gap_or_duplicate(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    with own_postgres_database("forum_faults") as database:
        env = {"BROKER_URL": own_redis.url}
        with (
            node(database, tmp_path, **env) as (doomed, first),
            node(database, tmp_path, **env) as (_, second),
        ):
            async with members(first, 1) as (on_first,), members(second, 1) as (on_second,):
                async with connect(first) as reader:
                    acknowledged = [
                        await posted(on_first, f"On the first node {i}") for i in range(3)
                    ]
                    seen = await read_all(reader, 3)
                    assert [reply for _, reply in seen] == acknowledged
                    doomed.send_signal(signal.SIGKILL)
                    doomed.wait()
                    with pytest.raises(websockets.ConnectionClosed):
                        async with asyncio.timeout(TIMEOUT):
                            await reader.recv()  # the socket is gone

                later = [await posted(on_second, f"On the second node {i}") for i in range(4)]
                async with connect(second) as reader:
                    await resume(reader, seen[-1][0])
                    replayed = await read_all(reader, 4)
                    assert replayed == list(zip(range(4, 8), later, strict=True))
                    # Nothing more: no duplicate of what the page had seen.
                    final = await posted(on_second, "Live on the second node")
                    assert await read_all(reader, 1) == [(8, final)]

                listed = (
                    await on_second.client.get(
                        f"/api/articles/{SLUG}/replies", params={"order": "oldest", "limit": 50}
                    )
                ).json()["replies"]
                assert [reply["id"] for reply in listed] == [*acknowledged, *later, final]
                assert json.dumps(listed).count("On the first node") == 3
