"""Open sockets follow their account: a role change, a sign-out, an expired session or a change
made from the command line closes them (docs/live.md's 44xx codes) before any further frame."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from forum.accounts.identity import SESSION_COOKIE, session_csrf_token
from forum.accounts.service import token_hash
from models import Article, Role, Session, User
from tests.conftest import (
    LiveServer,
    Member,
    forum_command,
    start_server,
    stop_server,
)
from tests.test_moderation import TIMEOUT, api, enrol, hide, open_socket, post_reply

CLOSE_SIGNED_OUT, CLOSE_SUSPENDED, CLOSE_ACCESS_CHANGED = 4401, 4403, 4409


async def frames_until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame the socket gets until the server closes it, and the close code."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        try:
            while True:
                frames.append(json.loads(await ws.recv()))
        except websockets.ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None


def thread_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames about the thread (not presence or the bell)."""
    return [frame for frame in frames if frame["type"].startswith("reply.")]


async def test_a_demoted_moderators_page_closes_before_any_further_frame(
    server: LiveServer, fresh_article: Article
) -> None:
    moderator = await enrol(server, "mod", role=Role.MODERATOR)
    other_moderator = await enrol(server, "mod2", role=Role.MODERATOR)
    admin = await enrol(server, "admin", role=Role.ADMIN)
    author = await enrol(server, "author")
    marker = f"secret-{secrets.token_hex(5)}"
    reply_id = await post_reply(author, fresh_article.slug, f"Words {marker}")
    try:
        async with open_socket(server, f"/a/{fresh_article.slug}/live", moderator) as page:
            demoted = await api(admin, f"/api/users/{moderator.username}/role", {"role": "reader"})
            assert demoted.status_code == 200, demoted.text
            await hide(other_moderator, reply_id, note=f"note {marker}")
            frames, code = await frames_until_closed(page)
        assert code == CLOSE_ACCESS_CHANGED
        assert next(f for f in frames if f["type"] == "account")["reason"] == CLOSE_ACCESS_CHANGED
        assert marker not in json.dumps(frames)
        assert thread_frames(frames) == []
        # Reconnecting gets the view the account has now: a reader's, without the hidden reply.
        async with open_socket(server, f"/a/{fresh_article.slug}/live", moderator) as page:
            await page.send(json.dumps({"type": "resume", "last_seq": 0}))
            async with asyncio.timeout(TIMEOUT):
                replayed = []
                while len(thread_frames(replayed)) < 2:
                    replayed.append(json.loads(await page.recv()))
        assert marker not in json.dumps(replayed)
    finally:
        for member in (moderator, other_moderator, admin, author):
            await member.client.aclose()


async def test_the_moderators_queue_socket_closes_on_demotion(server: LiveServer) -> None:
    moderator = await enrol(server, "mod", role=Role.MODERATOR)
    admin = await enrol(server, "admin", role=Role.ADMIN)
    try:
        async with open_socket(server, "/mod/live", moderator) as queue:
            demoted = await api(admin, f"/api/users/{moderator.username}/role", {"role": "reader"})
            assert demoted.status_code == 200, demoted.text
            _, code = await frames_until_closed(queue)
        assert code == CLOSE_ACCESS_CHANGED
    finally:
        await moderator.client.aclose()
        await admin.client.aclose()


async def second_session(server: LiveServer, member: Member) -> Member:
    """The same account signed in a second time (another browser)."""
    user_id = (await Session.get(token_hash=token_hash(_token(member)))).user_id
    token = secrets.token_urlsafe(32)
    await Session.create(
        token_hash=token_hash(token),
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    client = httpx.AsyncClient(base_url=server.url, timeout=10, cookies={SESSION_COOKIE: token})
    return Member(member.username, client, session_csrf_token(server.env["SECRET_KEY"], token))


def _token(member: Member) -> str:
    token = member.client.cookies.get(SESSION_COOKIE)
    assert token
    return token


async def test_signing_out_closes_that_sessions_pages_only(
    server: LiveServer, fresh_article: Article
) -> None:
    moderator = await enrol(server, "mod", role=Role.MODERATOR)
    elsewhere = await second_session(server, moderator)
    author = await enrol(server, "author")
    live = f"/a/{fresh_article.slug}/live"
    try:
        async with (
            open_socket(server, live, moderator) as signed_out_page,
            open_socket(server, live, elsewhere) as other_browser,
        ):
            response = await moderator.client.delete("/api/session", headers=moderator.headers())
            assert response.status_code == 204
            frames, code = await frames_until_closed(signed_out_page)
            assert code == CLOSE_SIGNED_OUT
            assert thread_frames(frames) == []
            # The other browser's session goes on, with its moderator's view.
            await post_reply(author, fresh_article.slug, "Still live elsewhere")
            async with asyncio.timeout(TIMEOUT):
                while True:
                    frame = json.loads(await other_browser.recv())
                    if frame["type"] == "reply.posted":
                        break
    finally:
        for member in (moderator, elsewhere, author):
            await member.client.aclose()


async def test_a_page_closes_when_its_session_expires(
    server: LiveServer, fresh_article: Article
) -> None:
    member = await enrol(server, "expiring")
    await Session.filter(token_hash=token_hash(_token(member))).update(
        expires_at=datetime.now(UTC) + timedelta(seconds=1.5)
    )
    try:
        async with open_socket(server, f"/a/{fresh_article.slug}/live", member) as page:
            frames, code = await frames_until_closed(page)
        assert code == CLOSE_SIGNED_OUT
        assert frames[-1]["type"] == "account"
    finally:
        await member.client.aclose()


@pytest.fixture(scope="module")
def checking_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, server: LiveServer
) -> Iterator[LiveServer]:
    """A second server on the same database that checks open sockets' accounts often."""
    process, live = start_server(
        database_url, tmp_path_factory.mktemp("checks"), LIVE_ACCOUNT_CHECK_SECONDS="0.3"
    )
    yield live
    stop_server(process)


async def test_a_role_set_from_the_command_line_reaches_open_pages(
    checking_server: LiveServer, fresh_article: Article, db: None, tmp_path: Path
) -> None:
    moderator = await enrol(checking_server, "mod", role=Role.MODERATOR)
    try:
        async with open_socket(checking_server, f"/a/{fresh_article.slug}/live", moderator) as page:
            forum_command(checking_server, "promote", moderator.username, "--role", "reader")
            _, code = await frames_until_closed(page)
        assert code == CLOSE_ACCESS_CHANGED
    finally:
        await moderator.client.aclose()


async def test_a_session_deleted_elsewhere_or_a_suspension_written_elsewhere_closes_pages(
    checking_server: LiveServer, fresh_article: Article, db: None
) -> None:
    member = await enrol(checking_server, "reader")
    suspended = await enrol(checking_server, "reader")
    live = f"/a/{fresh_article.slug}/live"
    try:
        async with (
            open_socket(checking_server, live, member) as page,
            open_socket(checking_server, live, suspended) as other,
        ):
            await Session.filter(token_hash=token_hash(_token(member))).delete()
            await User.filter(username_key=suspended.username.lower()).update(
                suspended_until=datetime.now(UTC) + timedelta(days=1)
            )
            assert (await frames_until_closed(page))[1] == CLOSE_SIGNED_OUT
            assert (await frames_until_closed(other))[1] == CLOSE_SUSPENDED
    finally:
        await member.client.aclose()
        await suspended.client.aclose()
