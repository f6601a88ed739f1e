"""Shared fixtures: a real uvicorn server on a free port over a fresh database, HTTP clients,
direct database access for row counts, and a headless Chromium page.

The database is a temporary SQLite file, or PostgreSQL when TEST_DATABASE_URL is set
(`make test-postgres`): then the run skips if PostgreSQL is absent, except under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import pytest_asyncio
from tortoise import Tortoise

from forum.db import tortoise_config
from models import Article

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SLUG = "bidens-armed-shift-ukraine-authorized-to-strike-inside-russia"
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        address = (parsed.hostname or "127.0.0.1", parsed.port or 5432)
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test run (for this worker's share of it under xdist).

    SQLite: a file in the worker's own temporary folder. PostgreSQL: the database of
    TEST_DATABASE_URL, emptied; but a pytest-xdist worker gets a database of its own beside it
    (`<name>_gw0_<run>`, dropped at the end), since emptying one shared schema from several
    workers would destroy the rows of the tests the other workers are running.
    """
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        yield f"sqlite://{tmp_path_factory.mktemp('db') / 'forum.sqlite3'}"
        return
    if not _postgres_reachable(url):
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {url} is required under CI=true but is not reachable")
        pytest.skip("PostgreSQL is not reachable")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        asyncio.run(_reset_postgres(url))
        yield url
        return
    # The run's id as well as the worker's: parallel runs sharing the PostgreSQL server (several
    # checkouts, CI jobs) each have a gw0.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or uuid.uuid4().hex[:8]
    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/') or 'forum'}_{worker}_{run}"
    _run_async(_admin(url, f'CREATE DATABASE "{name}"'))
    try:
        yield parsed._replace(path=f"/{name}").geturl()
    finally:
        _run_async(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _run_async(coroutine: Coroutine[object, object, None]) -> None:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = urlparse(url)
    admin_url = parsed._replace(scheme="postgresql", path="/postgres").geturl()
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_database(folder: Path) -> Iterator[str]:
    """A second, empty database of the same kind as this run's (SQLite file or PostgreSQL),
    for a server that must not share the session's rows; dropped afterwards.

    A SQLite one in a PostgreSQL run would rebind the ORM's models to SQLite's dialect in the
    test process, breaking every later query through the `db` fixture.
    """
    session_url = os.environ.get("TEST_DATABASE_URL", "")
    if not session_url:
        yield f"sqlite://{folder / f'scratch-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    name = f"forum_scratch_{uuid.uuid4().hex[:10]}"
    _run_async(_admin(session_url, f'CREATE DATABASE "{name}"'))
    try:
        yield urlparse(session_url)._replace(path=f"/{name}").geturl()
    finally:
        _run_async(_admin(session_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def require_service(name: str, url: str, default_port: int) -> None:
    """Skip the test when a service it needs is not reachable; under CI=true, fail instead."""
    parsed = urlparse(url)
    address = (parsed.hostname or "127.0.0.1", parsed.port or default_port)
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} at {url} is required under CI=true but is not reachable")
        pytest.skip(f"{name} is not reachable")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis for the hub and for servers that share events (TEST_REDIS_URL, default db 0)."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    require_service("Redis", url, 6379)
    return url


@dataclass(frozen=True)
class LiveServer:
    """A running forum: its base URL and the log file uvicorn writes."""

    url: str
    log: Path
    env: dict[str, str]


def start_server(
    database_url: str,
    log_dir: Path,
    *,
    app: str = "server:app",
    uvicorn_options: Sequence[str] = (),
    **extra_env: str,
) -> tuple[subprocess.Popen[bytes], LiveServer]:
    """Start `uvicorn server:app` (or another app, with more options) on a free port and wait
    until it answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BASE_URL": url,
        "SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
        # Tests post fast from few accounts; the rate-limit tests start servers with limits on.
        "RATE_LIMITS": "off",
        # One JSON line per request would bury the server log a failed test shows.
        "ACCESS_LOG": "off",
        # Mail as files in the test's folder, not the checkout's var/mail, which the servers of
        # every pytest-xdist worker (and `make run`) would otherwise share.
        "MAIL_DIR": str(log_dir / "mail"),
        **extra_env,
    }
    log = log_dir / f"server-{port}.log"
    migrate = subprocess.run(
        [sys.executable, "-m", "forum", "migrate"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if migrate.returncode:
        pytest.fail(f"migrations failed:\n{migrate.stdout}\n{migrate.stderr}")
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--ws-per-message-deflate",
                "false",
                "--no-access-log",
                *uvicorn_options,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited at start:\n{log.read_text()}")
        try:
            if httpx.get(url + "/api/articles", timeout=1).status_code == 200:
                return process, LiveServer(url, log, env)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"the server did not answer within 30 s:\n{log.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started by start_server."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The forum, served by uvicorn on a free port for the whole test run."""
    process, live = start_server(database_url, tmp_path_factory.mktemp("logs"))
    yield live
    stop_server(process)


@pytest_asyncio.fixture(scope="session")
async def db(server: LiveServer, database_url: str) -> AsyncIterator[None]:
    """Direct ORM access to the server's database, for counting rows."""
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    yield
    await Tortoise.close_connections()


@pytest_asyncio.fixture
async def fresh_article(db: None) -> AsyncIterator[Article]:
    """An article with an empty discussion, deleted (with its replies) after the test."""
    slug = unique_name("article").replace("_", "-")
    article = await Article.create(
        slug=slug, title=f"Test article {slug}", body_markdown="Text.\n", body_html="<p>Text.</p>\n"
    )
    yield article
    await article.delete()


@pytest_asyncio.fixture
async def anon(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-out HTTP client."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def forum_command(server: LiveServer, *args: str) -> None:
    """Run `python -m forum ...` against the server's database."""
    done = subprocess.run(
        [sys.executable, "-m", "forum", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def import_article(server: LiveServer, folder: Path, prefix: str) -> str:
    """A fresh article with an empty discussion, added by the import command; its slug."""
    slug = f"{prefix}-{uuid.uuid4().hex[:10]}"
    source = folder / f"{slug}.md"
    source.write_text(f"---\nslug: {slug}\ntitle: Test article {slug}\n---\n\nSome text.\n")
    forum_command(server, "import-article", str(source))
    return slug


def unique_name(prefix: str = "user") -> str:
    """A username no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass
class Member:
    """A registered, signed-in API client."""

    username: str
    client: httpx.AsyncClient
    csrf: str

    def headers(self) -> dict[str, str]:
        """Headers an unsafe API request needs."""
        return {"X-CSRF-Token": self.csrf}

    async def post_reply(
        self, body: str, parent_id: int | None = None, slug: str = SLUG
    ) -> httpx.Response:
        """POST a reply through the API."""
        payload: dict[str, object] = {"body": body}
        if parent_id is not None:
            payload["parent_id"] = parent_id
        return await self.client.post(
            f"/api/articles/{slug}/replies", json=payload, headers=self.headers()
        )


async def sign_up(server: LiveServer, username: str | None = None) -> Member:
    """Register and sign in a new member through the API."""
    username = username or unique_name()
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    created = await client.post("/api/accounts", json={"username": username, "password": PASSWORD})
    assert created.status_code == 201, created.text
    session = await client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert session.status_code == 200, session.text
    return Member(username, client, session.json()["csrf_token"])


@pytest_asyncio.fixture
async def member(server: LiveServer) -> AsyncIterator[Member]:
    """A freshly registered, signed-in member."""
    someone = await sign_up(server)
    yield someone
    await someone.client.aclose()


@pytest_asyncio.fixture
async def other_member(server: LiveServer) -> AsyncIterator[Member]:
    """A second member, for checks across accounts."""
    someone = await sign_up(server)
    yield someone
    await someone.client.aclose()


@pytest.fixture(scope="module")
def browser(server: LiveServer) -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser), per module.

    Not per session: while sync Playwright runs, it marks its event loop as running on this
    thread, and every async test after it would fail. So Playwright stops when the module that
    used it ends; async tests belong in other modules than browser tests.
    """
    playwright_api = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@contextlib.contextmanager
def own_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database whatever kind this run is (for tests that move data
    between kinds or kill servers); skipped without PostgreSQL (failed under CI=true), dropped
    afterwards."""
    server = os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    require_service("PostgreSQL", server, 5432)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _run_async(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield urlparse(server)._replace(path=f"/{name}").geturl()
    finally:
        _run_async(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
