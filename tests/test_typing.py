"""Who is writing: typing frames over the thread's socket (docs/live.md, "Who is typing").

A negative ("X's page gets no frame about Y") is checked without waiting for nothing: the
sender's own socket answers a `resume` from the future with `refresh` once it has handled every
frame before it, and a third member's typing then comes after anything Y's signal published.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from websockets.asyncio.client import ClientConnection

from models import Article, Reply, ReplyStatus, User
from tests.conftest import SLUG, LiveServer, Member, start_server, stop_server
from tests.test_live import TIMEOUT, cookie_header, members, posted, shared_postgres
from tests.test_muting import mute

CLOSE_POLICY = 1008
Message = dict[str, Any]
#: A fixture of tests/test_live.py, used here too.
__all__ = ["shared_postgres"]


def page(server: LiveServer, slug: str, member: Member | None = None) -> websockets.connect:
    """A thread socket, signed in as member (or signed out)."""
    headers = {"Cookie": cookie_header(member)} if member else {}
    url = "ws" + server.url.removeprefix("http") + f"/a/{slug}/live"
    return websockets.connect(url, additional_headers=headers, open_timeout=TIMEOUT)


async def typing(ws: ClientConnection, parent_id: int | None = None) -> None:
    """What the page sends while its reader types."""
    await ws.send(json.dumps({"type": "typing", "parent_id": parent_id}))


async def handled(ws: ClientConnection) -> None:
    """Wait until the server has handled every frame this socket sent so far."""
    await ws.send(json.dumps({"type": "resume", "last_seq": 10**9}))
    async with asyncio.timeout(TIMEOUT):
        while json.loads(await ws.recv())["type"] != "refresh":
            pass


async def next_typing(ws: ClientConnection) -> Message:
    """The next typing frame, skipping everything else."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame: Message = json.loads(await ws.recv())
            if frame["type"] == "typing":
                return frame


async def typing_until(ws: ClientConnection, name: str) -> list[Message]:
    """Typing frames up to and including the first that is about name."""
    frames = [await next_typing(ws)]
    while frames[-1]["author"] != name:
        frames.append(await next_typing(ws))
    return frames


@pytest_asyncio.fixture
async def trio(server: LiveServer) -> AsyncIterator[list[Member]]:
    """Three signed-in members: a writer, a reader, a third whose typing marks "later"."""
    async with members(server, 3) as signed_up:
        yield signed_up


async def test_a_members_typing_reaches_the_other_readers_with_their_name(
    server: LiveServer, fresh_article: Article, trio: list[Member]
) -> None:
    writer, reader, third = trio
    slug = fresh_article.slug
    parent = await posted_in(reader, slug, "Something to answer")
    async with (
        page(server, slug, writer) as writing,
        page(server, slug, reader) as reading,
        page(server, slug) as signed_out,
    ):
        await typing(writing)
        for ws in (reading, signed_out):
            assert await next_typing(ws) == {
                "type": "typing",
                "author": writer.username,
                "parent_id": None,
                "stopped": False,
            }
        # Someone else's typing under a reply: the writer sees it, but never their own.
        async with page(server, slug, third) as thirds:
            await typing(thirds, parent)
            frame = await next_typing(writing)
            assert (frame["author"], frame["parent_id"]) == (third.username, parent)
            assert (await next_typing(reading))["parent_id"] == parent


async def posted_in(member: Member, slug: str, body: str, parent_id: int | None = None) -> int:
    """Post a reply to the article with this slug; its id."""
    response = await member.post_reply(body, parent_id, slug=slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_a_burst_of_signals_makes_one_frame(
    server: LiveServer, fresh_article: Article, trio: list[Member]
) -> None:
    writer, reader, third = trio
    slug = fresh_article.slug
    async with (
        page(server, slug, writer) as writing,
        page(server, slug, reader) as reading,
        page(server, slug, third) as thirds,
    ):
        for _ in range(10):
            await typing(writing)
        await handled(writing)
        await typing(thirds)
        frames = await typing_until(reading, third.username)
        assert [frame["author"] for frame in frames] == [writer.username, third.username]


async def test_suspended_and_signed_out_signals_are_ignored(
    server: LiveServer, fresh_article: Article, trio: list[Member]
) -> None:
    suspended, reader, third = trio
    slug = fresh_article.slug
    async with (
        page(server, slug, suspended) as suspended_page,
        page(server, slug) as signed_out,
        page(server, slug, reader) as reading,
        page(server, slug, third) as thirds,
    ):
        # Suspended behind the app's back: the socket is still open, its signals count not.
        await User.filter(username_key=suspended.username.lower()).update(
            suspended_until=datetime.now(UTC) + timedelta(days=1)
        )
        await typing(suspended_page)
        await handled(suspended_page)
        await typing(signed_out)
        await handled(signed_out)  # ignored, not a protocol violation: the socket answers
        await typing(thirds)
        frames = await typing_until(reading, third.username)
        assert [frame["author"] for frame in frames] == [third.username]


async def test_signals_for_replies_that_cannot_be_written_are_dropped(
    server: LiveServer, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    async with members(server, 4) as (under_hidden, under_foreign, in_locked, later):
        hidden = await posted_in(later, slug, "Soon hidden")
        await Reply.filter(id=hidden).update(status=ReplyStatus.HIDDEN)
        foreign = await posted(later, "In another thread")
        async with (
            page(server, slug) as reading,
            page(server, slug, under_hidden) as first,
            page(server, slug, under_foreign) as second,
            page(server, slug, in_locked) as third,
            page(server, slug, later) as fourth,
        ):
            await typing(first, hidden)  # its id must not reach readers who cannot see it
            await typing(second, foreign)
            await handled(first)
            await handled(second)
            await Article.filter(id=fresh_article.id).update(locked=True)
            await typing(third)
            await handled(third)
            await Article.filter(id=fresh_article.id).update(locked=False)
            await typing(fourth)
            frames = await typing_until(reading, later.username)
            assert [frame["author"] for frame in frames] == [later.username]


async def test_a_muter_never_sees_the_muted_member_typing(
    server: LiveServer, fresh_article: Article, trio: list[Member]
) -> None:
    writer, muter, third = trio
    slug = fresh_article.slug
    assert (await mute(muter, writer.username)).status_code == 200
    async with (
        page(server, slug, writer) as writing,
        page(server, slug, muter) as muters,
        page(server, slug, third) as thirds,
    ):
        await typing(writing)
        # The others see it...
        assert (await next_typing(thirds))["author"] == writer.username
        await handled(writing)
        await typing(thirds)
        # ...the muter does not.
        frames = await typing_until(muters, third.username)
        assert [frame["author"] for frame in frames] == [third.username]


async def test_posting_the_reply_says_stopped(
    server: LiveServer, fresh_article: Article, trio: list[Member]
) -> None:
    writer, reader, _ = trio
    slug = fresh_article.slug
    async with page(server, slug, writer) as writing, page(server, slug, reader) as reading:
        await typing(writing)
        assert (await next_typing(reading))["stopped"] is False
        reply_id = await posted_in(writer, slug, "Done writing")
        assert await next_typing(reading) == {
            "type": "typing",
            "author": writer.username,
            "parent_id": None,
            "stopped": True,
        }
        # Their next reply is shown at once, throttle or not.
        await typing(writing, reply_id)
        frame = await next_typing(reading)
        assert (frame["stopped"], frame["parent_id"]) == (False, reply_id)


async def test_a_malformed_typing_frame_closes_the_socket(
    server: LiveServer, fresh_article: Article, member: Member
) -> None:
    async with page(server, fresh_article.slug, member) as ws:
        await ws.send(json.dumps({"type": "typing", "parent_id": "7"}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_POLICY


@pytest.mark.postgres
@pytest.mark.redis
async def test_typing_crosses_server_processes_on_redis(
    shared_postgres: str, redis_url: str, tmp_path: Path
) -> None:
    env = {"BROKER_URL": redis_url}
    first_process, first = start_server(shared_postgres, tmp_path, **env)
    try:
        second_process, second = start_server(shared_postgres, tmp_path, **env)
        try:
            async with (
                members(first, 1) as (writer,),
                page(first, SLUG, writer) as writing,
                page(second, SLUG) as reading,
            ):
                await typing(writing)
                frame = await next_typing(reading)
                assert (frame["author"], frame["stopped"]) == (writer.username, False)
                # Posted through the writer's process: the reader on the other hears it stopped.
                await posted(writer, "Written")
                stopped = await next_typing(reading)
                assert (stopped["author"], stopped["stopped"]) == (writer.username, True)
        finally:
            stop_server(second_process)
    finally:
        stop_server(first_process)
