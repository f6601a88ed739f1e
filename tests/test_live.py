"""The live thread over real WebSockets (docs/live.md): events as posted, edited and deleted,
sequence numbers, catch-up, refusals, junk, fan-out to many readers, presence, two processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio
import websockets
from bs4 import BeautifulSoup, Tag
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from tests.conftest import (
    PROJECT_ROOT,
    SLUG,
    LiveServer,
    Member,
    require_service,
    sign_up,
    start_server,
    stop_server,
)

#: Generous, only so that a broken server fails a test instead of hanging it.
TIMEOUT = 20
CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_FELL_BEHIND = 1008, 1009, 1013
CLOSE_TOO_MANY_SOCKETS = 4429

#: A frame from the server, decoded.
Message = dict[str, Any]


def live_url(server: LiveServer, slug: str = SLUG) -> str:
    """The WebSocket address of an article's thread."""
    return "ws" + server.url.removeprefix("http") + f"/a/{slug}/live"


def connect(server: LiveServer, slug: str = SLUG, **options: Any) -> websockets.connect:
    """Open a page's connection to the thread (no Origin, like a non-browser client)."""
    return websockets.connect(live_url(server, slug), open_timeout=TIMEOUT, **options)


async def next_event(ws: ClientConnection) -> Message:
    """The next thread event or refresh frame, skipping presence reports."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame: Message = json.loads(await ws.recv())
            if frame["type"] != "presence":
                return frame


async def events(ws: ClientConnection, count: int) -> list[Message]:
    """The next count thread events."""
    return [await next_event(ws) for _ in range(count)]


async def resume(ws: ClientConnection, last_seq: int) -> None:
    """Tell the server what the page has seen."""
    await ws.send(json.dumps({"type": "resume", "last_seq": last_seq}))


def partials(frame: Message) -> dict[str, Tag]:
    """The frame's <hx-partial>s by the target each swaps."""
    soup = BeautifulSoup(frame["content"], "html.parser")
    return {str(partial["hx-target"]): partial for partial in soup.find_all("hx-partial")}


async def posted(member: Member, body: str, parent_id: int | None = None) -> int:
    """Post a reply through the API; its id."""
    response = await member.post_reply(body, parent_id)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@contextlib.contextmanager
def own_server(
    tmp_path: Path, *, app: str = "server:app", uvicorn_options: Sequence[str] = (), **env: str
) -> Iterator[LiveServer]:
    """A server of the test's own, on its own temporary database, with these settings."""
    database = f"sqlite://{tmp_path / 'forum.sqlite3'}"
    process, live = start_server(
        database, tmp_path, app=app, uvicorn_options=uvicorn_options, **env
    )
    try:
        yield live
    finally:
        stop_server(process)


@contextlib.asynccontextmanager
async def members(server: LiveServer, count: int) -> AsyncIterator[list[Member]]:
    """Signed-in members of server, signed out at the end."""
    signed_up = [await sign_up(server) for _ in range(count)]
    try:
        yield signed_up
    finally:
        for someone in signed_up:
            await someone.client.aclose()


# What a page sees ------------------------------------------------------------------------------


async def test_a_posted_reply_reaches_open_pages(server: LiveServer, member: Member) -> None:
    listed = (await member.client.get(f"/api/articles/{SLUG}")).json()
    assert listed["live_url"] == live_url(server)
    async with connect(server) as ws:
        top_id = await posted(member, "A *top-level* reply")
        top = await next_event(ws)
        assert top["type"] == "reply.posted" and top["op"] == "insert"
        assert (top["reply_id"], top["parent_id"], top["author"]) == (top_id, None, member.username)
        swaps = partials(top)
        assert set(swaps) == {"#live-buffer", "#reply-count"}
        root = swaps["#live-buffer"].find("article")
        assert root is not None and root["id"] == f"reply-{top_id}"
        assert root.select_one(".reply-body em").get_text() == "top-level"
        assert root.select_one(".author").get_text() == member.username
        count = swaps["#reply-count"].select_one("#reply-count")
        assert count is not None and int(count["data-count"]) >= 1

        child_id = await posted(member, "A nested reply", parent_id=top_id)
        child = await next_event(ws)
        assert child["type"] == "reply.posted" and child["op"] == "insert"
        assert (child["reply_id"], child["parent_id"]) == (child_id, top_id)
        assert child["seq"] == top["seq"] + 1
        swaps = partials(child)
        assert set(swaps) == {f"#children-{top_id}", "#reply-count"}
        root = swaps[f"#children-{top_id}"].find("article")
        assert root is not None and root["id"] == f"reply-{child_id}"
        assert root.select_one(".reply-body").get_text(strip=True) == "A nested reply"


async def deleted(member: Member, reply_id: int) -> None:
    """Delete one's own reply through the API."""
    response = await member.client.delete(f"/api/replies/{reply_id}", headers=member.headers())
    assert response.status_code == 204, response.text


def what(frame: Message) -> tuple[str, str, int]:
    """What a frame says happened to which reply."""
    return frame["type"], frame["op"], frame["reply_id"]


async def test_edits_and_deletions_arrive_and_replay_as_things_are_now(
    server: LiveServer, member: Member
) -> None:
    async with connect(server) as ws:
        parent_id = await posted(member, "Parent")
        child_id = await posted(member, "Child", parent_id=parent_id)
        leaf_id = await posted(member, "Leaf")
        first = (await events(ws, 3))[0]["seq"]

        edit = await member.client.patch(
            f"/api/replies/{child_id}", json={"body": "Child, **edited**"}, headers=member.headers()
        )
        assert edit.status_code == 200, edit.text
        edited = await next_event(ws)
        assert what(edited) == ("reply.edited", "replace", child_id)
        main = partials(edited)[f"#reply-{child_id}-main"].select_one(f"#reply-{child_id}-main")
        assert main is not None
        assert main.select_one(".reply-body").get_text(" ", strip=True) == "Child, edited"
        assert main.select_one(".reply-body strong").get_text() == "edited"

        await deleted(member, leaf_id)
        gone = await next_event(ws)
        assert what(gone) == ("reply.deleted", "remove", leaf_id)
        assert f"#reply-{leaf_id}" in partials(gone)

        await deleted(member, parent_id)
        stub = await next_event(ws)
        assert what(stub) == ("reply.deleted", "replace", parent_id)
        assert "author" not in stub
        main = partials(stub)[f"#reply-{parent_id}-main"]
        assert main.select_one(".stub").get_text() == "[deleted]"
        assert main.select_one(".reply-body") is None

        # The last reply under the stub goes, and takes the stub with it.
        await deleted(member, child_id)
        last = await next_event(ws)
        assert what(last) == ("reply.deleted", "remove", parent_id)
        seqs = [edited["seq"], gone["seq"], stub["seq"], last["seq"]]
        assert seqs == list(range(first + 3, first + 7))

    async with connect(server) as ws:
        await resume(ws, first - 1)
        replayed = await events(ws, 7)
    assert [frame["seq"] for frame in replayed] == list(range(first, first + 7))
    assert {frame["op"] for frame in replayed} == {"remove"}, "all three replies are gone now"


# Sequence numbers and catch-up ---------------------------------------------------------------


async def test_a_silent_client_gets_events_from_the_moment_it_connected(
    server: LiveServer, member: Member
) -> None:
    await posted(member, "Before the page opened")
    async with connect(server) as ws:
        reply_id = await posted(member, "After the page opened")
        frame = await next_event(ws)
    assert frame["reply_id"] == reply_id


async def test_resume_replays_exactly_what_was_missed(
    server: LiveServer, member: Member, other_member: Member
) -> None:
    async with connect(server) as ws:
        await posted(member, "Seen before going away")
        last_seen = (await next_event(ws))["seq"]

    missed = await asyncio.gather(
        *(posted((member, other_member)[i % 2], f"Missed {i}") for i in range(50))
    )

    async with connect(server) as ws:
        await resume(ws, last_seen)
        replayed = await events(ws, 50)
        assert [frame["seq"] for frame in replayed] == list(range(last_seen + 1, last_seen + 51))
        assert {frame["type"] for frame in replayed} == {"reply.posted"}
        assert sorted(frame["reply_id"] for frame in replayed) == sorted(missed)
        # Nothing is sent twice: the next frame is the next event.
        after = await posted(member, "Live again")
        frame = await next_event(ws)
        assert (frame["seq"], frame["reply_id"]) == (last_seen + 51, after)


async def test_a_sequence_from_the_future_asks_for_a_refresh(
    server: LiveServer, member: Member
) -> None:
    async with connect(server) as ws:
        await posted(member, "Now")
        now = (await next_event(ws))["seq"]
        await resume(ws, now + 100)
        assert await next_event(ws) == {"type": "refresh", "last_seq": now}
        after = await posted(member, "Next")
        frame = await next_event(ws)
    assert (frame["type"], frame["seq"], frame["reply_id"]) == ("reply.posted", now + 1, after)


async def test_a_gap_longer_than_the_replay_limit_asks_for_a_refresh(tmp_path: Path) -> None:
    with own_server(tmp_path, LIVE_REPLAY_LIMIT="10") as server:
        async with members(server, 1) as (author,), connect(server) as ws:
            for i in range(11):
                await posted(author, f"Reply {i}")
            assert [frame["seq"] for frame in await events(ws, 11)] == list(range(1, 12))

            await resume(ws, 0)  # 11 events: one too many
            assert await next_event(ws) == {"type": "refresh", "last_seq": 11}
            await resume(ws, 1)  # 10 events: replayed whole
            assert [frame["seq"] for frame in await events(ws, 10)] == list(range(2, 12))
            reply_id = await posted(author, "Then live")
            frame = await next_event(ws)
            assert (frame["seq"], frame["reply_id"]) == (12, reply_id)


async def test_sequence_numbers_survive_a_restart(tmp_path: Path) -> None:
    database = f"sqlite://{tmp_path / 'forum.sqlite3'}"
    process, server = start_server(database, tmp_path)
    try:
        async with members(server, 1) as (author,), connect(server) as ws:
            await posted(author, "Before the restart")
            await posted(author, "Still before")
            assert [frame["seq"] for frame in await events(ws, 2)] == [1, 2]
    finally:
        stop_server(process)

    process, server = start_server(database, tmp_path)
    try:
        async with members(server, 1) as (author,), connect(server) as ws:
            reply_id = await posted(author, "After the restart")
            frame = await next_event(ws)
            assert (frame["seq"], frame["reply_id"]) == (3, reply_id)
            await resume(ws, 0)
            assert [frame["seq"] for frame in await events(ws, 3)] == [1, 2, 3]
    finally:
        stop_server(process)


# Refusals and junk ---------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused_at_the_handshake(server: LiveServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(server, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", [None, "own"])
async def test_the_sites_own_origin_or_none_is_accepted(
    server: LiveServer, member: Member, origin: str | None
) -> None:
    async with connect(server, origin=server.url if origin else None) as ws:
        reply_id = await posted(member, "Hello")
        assert (await next_event(ws))["reply_id"] == reply_id


async def test_an_unknown_thread_is_refused(server: LiveServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(server, slug="no-such-article"):
            pass
    assert refused.value.response.status_code == 403


JUNK: dict[str, tuple[list[str | bytes], int]] = {
    "text that is not JSON": (["hello"], CLOSE_POLICY),
    "a binary frame": ([b'{"type": "ping"}'], CLOSE_POLICY),
    "JSON that is not an object": (["[1, 2]"], CLOSE_POLICY),
    "an unknown type": (['{"type": "subscribe"}'], CLOSE_POLICY),
    "a resume without a number": (['{"type": "resume", "last_seq": "3"}'], CLOSE_POLICY),
    "a flood of pings": (['{"type": "ping"}'] * 21, CLOSE_POLICY),
    "a frame over 64 KiB": ([json.dumps({"type": "ping", "pad": "x" * 65536})], CLOSE_TOO_BIG),
    "JSON nested 20,000 deep": (
        ['{"type": "resume", "last_seq": ' + "[" * 20_000 + "]" * 20_000 + "}"],
        CLOSE_POLICY,
    ),
    "a lone surrogate": (['{"type": "ping", "note": "\\ud800"}'], CLOSE_POLICY),
    "NaN": (['{"type": "resume", "last_seq": NaN}'], CLOSE_POLICY),
}


@pytest.mark.parametrize("junk", JUNK, ids=list(JUNK))
async def test_junk_closes_that_client_only(server: LiveServer, member: Member, junk: str) -> None:
    frames, code = JUNK[junk]
    async with connect(server) as bystander, connect(server) as sender:
        with contextlib.suppress(websockets.ConnectionClosed):
            for frame in frames:
                await sender.send(frame)
        with pytest.raises(websockets.ConnectionClosed):
            await next_event(sender)
        assert sender.close_code == code
        reply_id = await posted(member, "Still here")
        assert (await next_event(bystander))["reply_id"] == reply_id


async def test_twenty_frames_in_ten_seconds_are_allowed(server: LiveServer, member: Member) -> None:
    async with connect(server) as ws:
        for _ in range(20):
            await ws.send('{"type": "ping"}')
        reply_id = await posted(member, "Not a flood")
        assert (await next_event(ws))["reply_id"] == reply_id


# Presence ------------------------------------------------------------------------------------


async def reading(ws: ClientConnection, expected: int) -> None:
    """Wait until the page is told expected pages have the thread open."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "presence" and frame["reading"] == expected:
                soup = BeautifulSoup(frame["content"], "html.parser")
                assert soup.select_one("hx-partial")["hx-target"] == "#presence"
                assert soup.get_text(strip=True) == f"{expected} reading now"
                return


def as_visitor(visitor: str) -> dict[str, Any]:
    """Connection options of a browser with this visitor cookie."""
    return {"additional_headers": {"Cookie": f"forum_visitor={visitor}"}}


def new_visitor() -> dict[str, Any]:
    """Connection options of a browser of its own."""
    return as_visitor(uuid.uuid4().hex[:22])


async def test_presence_counts_the_open_pages(server: LiveServer) -> None:
    async with connect(server, **new_visitor()) as first:
        await reading(first, 1)
        async with connect(server, **new_visitor()) as second:
            await reading(first, 2)
            await reading(second, 2)
        await reading(first, 1)


async def test_presence_counts_readers_not_sockets(server: LiveServer, member: Member) -> None:
    """Many pages of one visitor (cookie, else signed-in user) count as one reader."""
    browser = new_visitor()
    async with contextlib.AsyncExitStack() as pages:
        for _ in range(6):
            last = await pages.enter_async_context(connect(server, **browser))
        # A second reader arrives: all the first one's pages together count once.
        signed_in = {"additional_headers": {"Cookie": cookie_header(member)}}
        async with contextlib.AsyncExitStack() as theirs:
            for _ in range(3):
                other = await theirs.enter_async_context(connect(server, **signed_in))
            await reading(other, 2)
            await reading(last, 2)
        await reading(last, 1)


def cookie_header(member: Member) -> str:
    """The Cookie header of a member's client."""
    return "; ".join(f"{name}={value}" for name, value in member.client.cookies.items())


async def closing_code(ws: ClientConnection) -> int:
    """The code the server closes the socket with, before any frame."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT):
            frame = await ws.recv()
            pytest.fail(f"a refused socket got a frame: {frame!r}")
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_sockets_past_the_caps_are_refused_with_4429(tmp_path: Path) -> None:
    caps = {"LIVE_SOCKETS_PER_VISITOR": "2", "LIVE_SOCKETS_PER_ADDRESS": "3"}
    alice, bob, carol = new_visitor(), new_visitor(), new_visitor()
    with own_server(tmp_path, **caps) as server:
        async with connect(server, **alice) as first, connect(server, **alice) as second:
            await reading(second, 1)
            async with connect(server, **alice) as third:
                assert await closing_code(third) == CLOSE_TOO_MANY_SOCKETS
            async with connect(server, **bob) as bobs:
                await reading(bobs, 2)
                # The address holds three sockets: a fourth browser there is refused.
                async with connect(server, **carol) as carols:
                    assert await closing_code(carols) == CLOSE_TOO_MANY_SOCKETS
                await first.close()
                await second.close()
                # Once Alice's pages are no longer counted, their places are free again.
                await reading(bobs, 1)
                async with connect(server, **alice) as again, connect(server, **carol) as hers:
                    await reading(again, 3)
                    await reading(hers, 3)
    # Off (0), as the benches run: no cap.
    uncapped = tmp_path / "uncapped"
    uncapped.mkdir()
    with own_server(uncapped, LIVE_SOCKETS_PER_VISITOR="0") as server:
        async with contextlib.AsyncExitStack() as pages:
            for _ in range(10):
                last = await pages.enter_async_context(connect(server, **alice))
            await reading(last, 1)


# Fan-out -------------------------------------------------------------------------------------


class SilentClient:
    """A page that completes the handshake and then never reads: its TCP window fills up."""

    def __init__(self, url: str) -> None:
        self.uri = parse_uri(url)
        self.protocol = ClientProtocol(self.uri)
        self.socket = socket.socket()
        # A small receive buffer so that the server, not this kernel, holds the backlog.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.setblocking(False)
        self.frames: list[Frame] = []
        self.close_code: int | None = None

    async def open(self) -> None:
        """Connect and complete the handshake, reading no further than its response."""
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.socket, (self.uri.host, self.uri.port))
        self.protocol.send_request(self.protocol.connect())
        await loop.sock_sendall(self.socket, b"".join(self.protocol.data_to_send()))
        async with asyncio.timeout(TIMEOUT):
            while self.protocol.state is State.CONNECTING:
                self.protocol.receive_data(await loop.sock_recv(self.socket, 4096))
        response = self.protocol.events_received()[0]
        assert isinstance(response, Response) and response.status_code == 101

    async def read_to_the_end(self) -> None:
        """Read everything the server sent until it closed the connection or dropped it."""
        async with asyncio.timeout(TIMEOUT):
            while self.close_code is None:
                try:
                    data = await asyncio.get_running_loop().sock_recv(self.socket, 65536)
                except ConnectionError:
                    return
                if not data:
                    return
                self.protocol.receive_data(data)
                for event in self.protocol.events_received():
                    if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                        assert self.protocol.close_rcvd is not None
                        self.close_code = self.protocol.close_rcvd.code
                    elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        self.frames.append(event)

    def seqs(self) -> list[int]:
        """The sequence numbers of the thread events received."""
        decoded = [json.loads(frame.data) for frame in self.frames]
        return [frame["seq"] for frame in decoded if frame["type"] != "presence"]

    def close(self) -> None:
        self.socket.close()


async def read_all(ws: ClientConnection, count: int) -> list[tuple[int, int]]:
    """(seq, reply_id) of the next count thread events."""
    return [(frame["seq"], frame["reply_id"]) for frame in await events(ws, count)]


async def test_a_reader_that_stops_reading_is_cut_off_while_the_others_get_everything(
    tmp_path: Path,
) -> None:
    burst, readers = 1000, 20
    # Big enough replies that the burst overflows every socket buffer on the way to the silent
    # reader (Linux lets a sender's buffer grow to 4 MiB), so that it really falls behind.
    body = "Lorem ipsum dolor sit amet. " * 150
    # Every reader here is one cookieless client on loopback: the socket caps off.
    uncapped = {"LIVE_SOCKETS_PER_VISITOR": "0", "LIVE_SOCKETS_PER_ADDRESS": "0"}
    with own_server(tmp_path, LIVE_QUEUE_SIZE="16", **uncapped) as server:
        silent = SilentClient(live_url(server))
        async with contextlib.AsyncExitStack() as stack:
            authors = await stack.enter_async_context(members(server, 4))
            pages = [await stack.enter_async_context(connect(server)) for _ in range(readers)]
            stack.callback(silent.close)
            await silent.open()
            receiving = [asyncio.create_task(read_all(ws, burst)) for ws in pages]

            slots = asyncio.Semaphore(8)

            async def post(i: int) -> int:
                async with slots:
                    return await posted(authors[i % len(authors)], f"{i}. {body}")

            sent = await asyncio.gather(*(post(i) for i in range(burst)))
            received = await asyncio.wait_for(asyncio.gather(*receiving), TIMEOUT * 3)
            await silent.read_to_the_end()

    for got in received:
        assert [seq for seq, _ in got] == list(range(1, burst + 1)), "each once, in order"
        assert sorted(reply_id for _, reply_id in got) == sorted(sent)
    assert silent.close_code in (CLOSE_FELL_BEHIND, None), "closed with 1013, or dropped"
    seqs = silent.seqs()
    assert len(seqs) < burst, "the silent reader was cut off"
    assert seqs == list(range(1, len(seqs) + 1)), "what it got before, it got in order"


# Direct writes (forum/live/writer.py) ---------------------------------------------------------


async def test_under_uvicorn_live_frames_are_written_directly(tmp_path: Path) -> None:
    # This app fails any frame that takes the ASGI path (tests/live_direct_only.py).
    with own_server(tmp_path, app="tests.live_direct_only:app") as server:
        async with (
            members(server, 1) as (author,),
            connect(server, **new_visitor()) as first,
            connect(server, **new_visitor()) as second,
        ):
            await reading(first, 2)
            sent = [await posted(author, f"Reply {i}") for i in range(10)]
            for ws in (first, second):
                assert await read_all(ws, 10) == list(zip(range(1, 11), sent, strict=True))


async def test_on_other_servers_frames_go_through_asgi(tmp_path: Path) -> None:
    # uvicorn's older websockets protocol gives the app no sans-I/O connection to write to.
    with own_server(tmp_path, uvicorn_options=["--ws", "websockets"]) as server:
        async with members(server, 1) as (author,), connect(server) as ws:
            sent = [await posted(author, f"Reply {i}") for i in range(5)]
            assert await read_all(ws, 5) == list(zip(range(1, 6), sent, strict=True))
            await resume(ws, 2)
            assert [frame["seq"] for frame in await events(ws, 3)] == [3, 4, 5]
            reply_id = await posted(author, "Then live")
            assert await read_all(ws, 1) == [(6, reply_id)]


# Two processes ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def shared_postgres() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own (created, then dropped), for two servers.

    Its article gets a random id: Redis channels span all its databases, so other test runs
    sharing Redis must not publish to this thread's channel.
    """
    base = os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    require_service("PostgreSQL", base, 5432)
    parts = urlsplit(base)
    name = f"forum_live_{uuid.uuid4().hex[:12]}"
    url = urlunsplit(parts._replace(path=f"/{name}"))
    admin = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql", path="/postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "forum",
            "migrate",
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": "test-secret"},
        )
        assert await migrate.wait() == 0, "migrations failed"
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        try:
            article_id = 1_000_000 + uuid.uuid4().int % 1_000_000_000
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('articles', 'id'), $1)", article_id
            )
        finally:
            await conn.close()
        yield url
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.mark.postgres
@pytest.mark.redis
async def test_replies_posted_through_two_processes_reach_readers_on_both(
    shared_postgres: str, redis_url: str, tmp_path: Path
) -> None:
    burst = 40
    env = {"BROKER_URL": redis_url}
    first_process, first = start_server(shared_postgres, tmp_path, **env)
    try:
        second_process, second = start_server(shared_postgres, tmp_path, **env)
        try:
            async with (
                members(first, 1) as (on_first,),
                members(second, 1) as (on_second,),
                connect(first) as reader_on_first,
                connect(second) as reader_on_second,
            ):
                lone = await posted(on_first, "Across processes")
                for ws in (reader_on_first, reader_on_second):
                    frame = await next_event(ws)
                    assert (frame["type"], frame["seq"], frame["reply_id"]) == (
                        "reply.posted",
                        1,
                        lone,
                    )
                    root = partials(frame)["#live-buffer"].find("article")
                    assert root is not None and root["id"] == f"reply-{lone}"

                # Writers in two processes publish in roughly, not exactly, commit order.
                sent = await asyncio.gather(
                    *(posted((on_first, on_second)[i % 2], f"Reply {i}") for i in range(burst))
                )
                for ws in (reader_on_first, reader_on_second):
                    got = await read_all(ws, burst)
                    assert [seq for seq, _ in got] == list(range(2, burst + 2))
                    assert sorted(reply_id for _, reply_id in got) == sorted(sent)
        finally:
            stop_server(second_process)
    finally:
        stop_server(first_process)
