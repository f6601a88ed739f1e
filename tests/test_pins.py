"""Pins: moderators pin replies to the top of their thread, first in every order (once, also
while paging), audited, never hidden ones (hiding unpins), and open pages move them live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from models import Article, AuditAction, AuditEntry, Reply, Role
from tests.conftest import LiveServer, Member
from tests.test_live import TIMEOUT, Message, connect, partials, resume
from tests.test_moderation import api, enrol, hide, parse
from tests.test_votes import reply_to

HTMX = {"HX-Request": "true"}


@dataclass
class Cast:
    """Who acts in these tests."""

    poster: Member
    reader: Member
    moderator: Member


@pytest_asyncio.fixture
async def cast(server: LiveServer, db: None) -> AsyncIterator[Cast]:
    people = Cast(
        await enrol(server, "poster"),
        await enrol(server, "reader"),
        await enrol(server, "mod", role=Role.MODERATOR),
    )
    yield people
    for member in (people.poster, people.reader, people.moderator):
        await member.client.aclose()


async def pin(member: Member, reply_id: int, action: str = "pin") -> httpx.Response:
    return await api(member, f"/api/replies/{reply_id}/{action}")


async def every_page(client: httpx.AsyncClient, slug: str, order: str) -> list[dict]:
    """Every top-level reply in this order, paging one at a time with the cursors given."""
    listed: list[dict] = []
    cursor = None
    for _ in range(30):
        params = {"order": order, "limit": "1"}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(f"/api/articles/{slug}/replies", params=params)
        assert page.status_code == 200, page.text
        listed += page.json()["replies"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return listed
    raise AssertionError("paging did not end")


async def test_pinned_replies_come_first_once_in_every_order(
    fresh_article: Article, cast: Cast
) -> None:
    slug = fresh_article.slug
    first, second, third = [await reply_to(cast.poster, slug, f"Reply {n}") for n in range(3)]
    answer = await cast.poster.post_reply("An answer worth pinning", first, slug)
    nested = int(answer.json()["id"])

    pinned = await pin(cast.moderator, second)
    assert pinned.status_code == 200, pinned.text
    assert pinned.json() == {"id": second, "pinned": True}
    assert (await pin(cast.moderator, nested)).status_code == 200
    # Pinning again changes nothing (and is not audited again).
    assert (await pin(cast.moderator, second)).json() == {"id": second, "pinned": True}

    expected_rest = {"newest": [third, first], "oldest": [first, third]}
    for order in ("newest", "oldest", "top"):
        listed = await every_page(cast.reader.client, slug, order)
        ids = [reply["id"] for reply in listed]
        # Pinned first, in the order they were pinned, then each other reply once.
        assert ids[:2] == [second, nested], (order, ids)
        assert [reply["pinned"] for reply in listed] == [True, True, False, False], order
        assert sorted(ids[2:]) == sorted([first, third]), order
        if order in expected_rest:
            assert ids[2:] == expected_rest[order]
    # The pinned answer has left its place under its parent.
    under = await cast.reader.client.get(f"/api/articles/{slug}/replies", params={"parent": first})
    assert under.json()["replies"] == []
    one = await cast.reader.client.get(f"/api/replies/{nested}")
    assert one.json()["pinned"] is True

    audited = await AuditEntry.filter(action=AuditAction.PIN, target_id__in=[second, nested])
    assert sorted(entry.target_id for entry in audited) == sorted([second, nested])
    assert {entry.actor_name for entry in audited} == {cast.moderator.username}

    unpinned = await pin(cast.moderator, second, "unpin")
    assert unpinned.json() == {"id": second, "pinned": False}
    listed = await every_page(cast.reader.client, slug, "oldest")
    assert [reply["id"] for reply in listed] == [nested, first, second, third]
    assert await AuditEntry.filter(action=AuditAction.UNPIN, target_id=second).count() == 1
    log = parse((await cast.moderator.client.get("/mod/log", params={"action": "pin"})).text)
    assert f"reply {second}" in log.get_text(" ")


async def test_refusals_change_nothing(
    server: LiveServer, fresh_article: Article, cast: Cast
) -> None:
    slug = fresh_article.slug
    reply_id = await reply_to(cast.poster, slug, "Not for readers to pin")
    refused = await pin(cast.reader, reply_id)
    assert refused.status_code == 403
    assert (await pin(cast.poster, reply_id)).status_code == 403
    async with httpx.AsyncClient(base_url=server.url) as anon:
        assert (await anon.post(f"/api/replies/{reply_id}/pin", json={})).status_code == 401
    assert (await pin(cast.moderator, 999_999_999)).status_code == 404

    hidden = await reply_to(cast.poster, slug, "Hidden first")
    await hide(cast.moderator, hidden)
    answer = await pin(cast.moderator, hidden)
    assert answer.status_code == 422
    assert "visible" in answer.json()["errors"]["reply"]

    kept = await reply_to(cast.poster, slug, "Deleted, with an answer")
    assert (await cast.reader.post_reply("Answer", kept, slug)).status_code == 201
    deleted = await cast.poster.client.delete(f"/api/replies/{kept}", headers=cast.poster.headers())
    assert deleted.status_code == 204
    assert (await pin(cast.moderator, kept)).status_code == 422

    assert await Reply.filter(article_id=fresh_article.id, pinned_at__isnull=False).count() == 0
    targets = [reply_id, hidden, kept]
    assert await AuditEntry.filter(action=AuditAction.PIN, target_id__in=targets).count() == 0


async def test_hiding_or_deleting_a_pinned_reply_unpins_it(
    server: LiveServer, fresh_article: Article, cast: Cast
) -> None:
    slug = fresh_article.slug
    secret = await reply_to(cast.poster, slug, "Pinned, then hidden: a secret")
    assert (await pin(cast.moderator, secret)).status_code == 200
    await hide(cast.moderator, secret)
    assert (await Reply.get(id=secret)).pinned_at is None

    async with httpx.AsyncClient(base_url=server.url) as anon:
        listed = (await anon.get(f"/api/articles/{slug}/replies")).json()["replies"]
        page = parse((await anon.get(f"/a/{slug}")).text)
    assert listed == []
    assert page.select("#pinned-replies .reply") == []
    assert "a secret" not in page.get_text()
    as_moderator = (await cast.moderator.client.get(f"/api/articles/{slug}/replies")).json()
    assert [(r["id"], r["pinned"]) for r in as_moderator["replies"]] == [(secret, False)]

    gone = await reply_to(cast.poster, slug, "Pinned, then deleted by its author")
    assert (await pin(cast.moderator, gone)).status_code == 200
    deleted = await cast.poster.client.delete(f"/api/replies/{gone}", headers=cast.poster.headers())
    assert deleted.status_code == 204
    assert not await Reply.filter(id=gone).exists()


async def test_the_page_shows_pinned_replies_first_and_pins_without_js(
    server: LiveServer, fresh_article: Article, cast: Cast
) -> None:
    slug = fresh_article.slug
    older, newer = [await reply_to(cast.poster, slug, f"Page reply {n}") for n in range(2)]

    # Without JS: the link leads to a page that confirms with a POST.
    confirm = await cast.moderator.client.get(f"/a/{slug}/r/{older}/pin")
    assert confirm.status_code == 200
    form = parse(confirm.text).select_one('main form[action$="/pin"]')
    assert form is not None
    fields = {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}
    posted = await cast.moderator.client.post(str(form["action"]), data=fields)
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"] == f"/a/{slug}#reply-{older}"

    for order in ("newest", "oldest", "top"):
        page = parse((await cast.reader.client.get(f"/a/{slug}", params={"order": order})).text)
        pinned = page.select("#pinned-replies > .reply")
        assert [str(node["id"]) for node in pinned] == [f"reply-{older}"], order
        mark = pinned[0].select_one(".pinned-mark")
        assert mark is not None and mark.get_text() == "Pinned"
        rest = [str(node["id"]) for node in page.select("#replies > .reply")]
        assert rest == [f"reply-{newer}"], order
    # Readers get no pin controls that work: the link is the moderators' (and refused to others).
    assert (await cast.reader.client.get(f"/a/{slug}/r/{newer}/pin")).status_code == 403

    # With htmx, on the thread's page: the answer moves the reply back, as the live frame does.
    headers = {**HTMX, "X-CSRF-Token": cast.moderator.csrf}
    thread_page = {**headers, "HX-Current-URL": f"{server.url}/a/{slug}?order=top"}
    moved = await cast.moderator.client.post(f"/a/{slug}/r/{older}/unpin", headers=thread_page)
    assert moved.status_code == 200, moved.text
    targets = [str(p["hx-target"]) for p in parse(moved.text).find_all("hx-partial")]
    assert targets == [f"#reply-{older}", "#live-buffer"]
    assert (await Reply.get(id=older)).pinned_at is None
    # On its permalink, the reply stays where it is: only its mark and link change.
    permalink = {**headers, "HX-Current-URL": f"{server.url}/a/{slug}/r/{older}"}
    stays = await cast.moderator.client.post(f"/a/{slug}/r/{older}/pin", headers=permalink)
    [partial] = parse(stays.text).find_all("hx-partial")
    assert partial["hx-target"] == f"#reply-{older}-main"
    assert partial.select_one(".pinned-mark") is not None
    assert partial.find("a", string="Unpin") is not None


async def next_move(ws: object) -> Message:
    """The next pin or unpin frame."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame: Message = json.loads(await ws.recv())  # type: ignore[attr-defined]
            if frame["type"] in ("reply.pinned", "reply.unpinned"):
                return frame


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "nested"])
async def test_open_pages_move_the_reply_live_and_catch_up(
    server: LiveServer, fresh_article: Article, cast: Cast, nested: bool
) -> None:
    slug = fresh_article.slug
    parent = await reply_to(cast.poster, slug, "A parent")
    reply_id = parent
    if nested:
        answer = await cast.poster.post_reply("Its answer", parent, slug)
        reply_id = int(answer.json()["id"])
    place = f"#children-{parent}" if nested else "#live-buffer"
    async with connect(server, slug) as ws:
        assert (await pin(cast.moderator, reply_id)).status_code == 200
        frame = await next_move(ws)
        assert (frame["type"], frame["op"], frame["reply_id"]) == ("reply.pinned", "move", reply_id)
        assert frame["pinned"] is True
        moves = partials(frame)
        assert moves[f"#reply-{reply_id}"]["hx-swap"] == "delete"
        into = moves["#pinned-replies"]
        assert into.select_one(f"#reply-{reply_id} .pinned-mark") is not None
        pinned_seq = frame["seq"]

        assert (await pin(cast.moderator, reply_id, "unpin")).status_code == 200
        frame = await next_move(ws)
        assert (frame["type"], frame["pinned"]) == ("reply.unpinned", False)
        back = partials(frame)[place]
        assert back.select_one(f"#reply-{reply_id}") is not None
        assert back.select_one(".pinned-mark") is None

    # A page that went away before the pin catches up on both, rendered as things are now.
    async with connect(server, slug) as ws:
        await resume(ws, pinned_seq - 1)
        replayed = [await next_move(ws), await next_move(ws)]
    assert [frame["type"] for frame in replayed] == ["reply.pinned", "reply.unpinned"]
    assert all(place in partials(frame) for frame in replayed)


async def test_a_pinned_reply_hidden_leaves_readers_pages_live(
    server: LiveServer, fresh_article: Article, cast: Cast
) -> None:
    slug = fresh_article.slug
    reply_id = await reply_to(cast.poster, slug, "Pinned secret text")
    assert (await pin(cast.moderator, reply_id)).status_code == 200
    async with connect(server, slug) as ws:
        await hide(cast.moderator, reply_id)
        frame = await next_move(ws)
    assert (frame["type"], frame["op"]) == ("reply.unpinned", "remove")
    assert "secret" not in frame["content"]
