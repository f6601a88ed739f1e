"""Votes and the "top" order: members up-vote replies and take votes back, scores stay exact
under concurrency, refusals say why, "top" pages stay exact while votes change, and scores reach
open pages live, throttled per reply."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup

from models import Article, Reply, ReplyVote, Role
from tests.conftest import PASSWORD, LiveServer, Member
from tests.test_live import TIMEOUT, Message, connect, own_server
from tests.test_moderation import enrol, hide

HTMX = {"HX-Request": "true"}


@pytest_asyncio.fixture
async def voters(server: LiveServer, db: None) -> AsyncIterator[list[Member]]:
    """Six members made straight in the database (cheap), signed out at the end."""
    made = [await enrol(server, "voter") for _ in range(6)]
    yield made
    for member in made:
        await member.client.aclose()


@pytest_asyncio.fixture
async def poster(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """The author of the replies voted on."""
    member = await enrol(server, "poster")
    yield member
    await member.client.aclose()


async def reply_to(member: Member, slug: str, body: str) -> int:
    response = await member.post_reply(body, slug=slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def put_vote(member: Member, reply_id: int) -> httpx.Response:
    return await member.client.put(
        f"/api/replies/{reply_id}/vote", json={}, headers=member.headers()
    )


async def delete_vote(member: Member, reply_id: int) -> httpx.Response:
    return await member.client.delete(f"/api/replies/{reply_id}/vote", headers=member.headers())


async def stored_score(reply_id: int) -> tuple[int, int]:
    """The reply's score column and the number of votes standing on it."""
    reply = await Reply.get(id=reply_id)
    return reply.score, await ReplyVote.filter(reply_id=reply_id, slot=0).count()


# The API ---------------------------------------------------------------------------------------


async def test_a_member_votes_once_and_takes_the_vote_back(
    fresh_article: Article, poster: Member, voters: list[Member]
) -> None:
    reply_id = await reply_to(poster, fresh_article.slug, "Worth a vote")
    voter = voters[0]
    first = await put_vote(voter, reply_id)
    assert first.status_code == 200, first.text
    assert first.json() == {"score": 1, "voted": True}
    again = await put_vote(voter, reply_id)
    assert again.json() == {"score": 1, "voted": True}
    assert await stored_score(reply_id) == (1, 1)

    listed = await voter.client.get(f"/api/articles/{fresh_article.slug}/replies")
    [shown] = listed.json()["replies"]
    assert (shown["score"], shown["voted"]) == (1, True)
    as_author = await poster.client.get(f"/api/articles/{fresh_article.slug}/replies")
    assert as_author.json()["replies"][0]["voted"] is False
    one = (await voter.client.get(f"/api/replies/{reply_id}")).json()
    assert (one["score"], one["voted"]) == (1, True)

    taken = await delete_vote(voter, reply_id)
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"score": 0, "voted": False}
    assert (await delete_vote(voter, reply_id)).json() == {"score": 0, "voted": False}
    assert await stored_score(reply_id) == (0, 0)
    # And again: a vote taken back leaves history, not a block on voting anew.
    assert (await put_vote(voter, reply_id)).json() == {"score": 1, "voted": True}
    assert await ReplyVote.filter(reply_id=reply_id).count() == 2


async def test_votes_at_once_keep_the_score_exact(
    fresh_article: Article, poster: Member, voters: list[Member]
) -> None:
    reply_id = await reply_to(poster, fresh_article.slug, "Everyone at once")
    same = voters[0]
    # Every member at once, and one of them five more times at the same moment.
    calls = [put_vote(member, reply_id) for member in voters] + [
        put_vote(same, reply_id) for _ in range(5)
    ]
    answers = await asyncio.gather(*calls)
    assert {answer.status_code for answer in answers} == {200}, [a.text for a in answers]
    assert await stored_score(reply_id) == (len(voters), len(voters))
    # Taking back at once: the same member's five calls count once.
    taken = await asyncio.gather(
        *[delete_vote(same, reply_id) for _ in range(5)], delete_vote(voters[1], reply_id)
    )
    assert {answer.status_code for answer in taken} == {200}
    assert await stored_score(reply_id) == (len(voters) - 2, len(voters) - 2)


async def test_refusals_say_why_and_change_nothing(
    server: LiveServer, fresh_article: Article, poster: Member, voters: list[Member]
) -> None:
    slug = fresh_article.slug
    own = await reply_to(poster, slug, "My own")
    refused = await put_vote(poster, own)
    assert refused.status_code == 403
    assert "your own reply" in refused.json()["errors"]["detail"]

    async with httpx.AsyncClient(base_url=server.url) as anon:
        signed_out = await anon.put(f"/api/replies/{own}/vote", json={})
    assert signed_out.status_code == 401

    suspended = await enrol(server, "suspended", suspended=True)
    try:
        answer = await put_vote(suspended, own)
        assert answer.status_code == 403
        assert "suspended" in json.dumps(answer.json()["errors"])
    finally:
        await suspended.client.aclose()

    assert (await put_vote(voters[0], 999_999_999)).status_code == 404

    moderator = await enrol(server, "mod", role=Role.MODERATOR)
    try:
        hidden = await reply_to(poster, slug, "To be hidden")
        await hide(moderator, hidden)
        answer = await put_vote(moderator, hidden)
        assert answer.status_code == 409
        assert "hidden" in answer.json()["errors"]["reply"]
        kept = await reply_to(poster, slug, "Has an answer")
        answer_under = await poster.post_reply("An answer", kept, slug)
        assert answer_under.status_code == 201
        deleted = await poster.client.delete(f"/api/replies/{kept}", headers=poster.headers())
        assert deleted.status_code == 204
        stub = await put_vote(voters[0], kept)
        assert stub.status_code == 409
        assert "deleted" in stub.json()["errors"]["reply"]

        open_reply = await reply_to(poster, slug, "In a thread about to lock")
        locked = await moderator.client.post(
            f"/api/articles/{slug}/lock", json={}, headers=moderator.headers()
        )
        assert locked.status_code == 200, locked.text
        answer = await put_vote(voters[0], open_reply)
        assert answer.status_code == 409
        assert "locked" in answer.json()["errors"]["reply"]
        assert (await delete_vote(voters[0], open_reply)).status_code == 409
    finally:
        await moderator.client.aclose()
    assert await ReplyVote.filter(reply__article_id=fresh_article.id).count() == 0
    assert await Reply.filter(article_id=fresh_article.id, score__gt=0).count() == 0


# The "top" order -----------------------------------------------------------------------------


async def top_page(client: httpx.AsyncClient, slug: str, cursor: str | None) -> dict:
    params = {"order": "top", "limit": "2"}
    if cursor:
        params["cursor"] = cursor
    response = await client.get(f"/api/articles/{slug}/replies", params=params)
    assert response.status_code == 200, response.text
    page: dict = response.json()
    return page


async def test_top_ranks_votes_against_age_and_ties_by_id(
    fresh_article: Article, poster: Member, voters: list[Member]
) -> None:
    slug = fresh_article.slug
    old, newer, newest = [await reply_to(poster, slug, f"Reply {n}") for n in range(3)]
    # An hour older is worth one vote (docs/ranking.md): "old" was posted two hours ago.
    posted_at = (await Reply.get(id=old)).created_at
    await Reply.filter(id=old).update(created_at=posted_at - timedelta(hours=2))
    listed = await voters[0].client.get(f"/api/articles/{slug}/replies", params={"order": "top"})
    ids = [reply["id"] for reply in listed.json()["replies"]]
    # Unvoted: new replies are not buried under old ones (and created in the same second,
    # the newer id first).
    assert ids == [newest, newer, old]
    for voter in voters[:3]:
        assert (await put_vote(voter, old)).status_code == 200
    listed = await voters[0].client.get(f"/api/articles/{slug}/replies", params={"order": "top"})
    assert [reply["id"] for reply in listed.json()["replies"]] == [old, newest, newer]


async def test_paging_top_while_votes_change_shows_each_reply_once(
    fresh_article: Article, poster: Member, voters: list[Member]
) -> None:
    slug = fresh_article.slug
    ids = [await reply_to(poster, slug, f"Reply number {n}") for n in range(7)]
    for count, reply_id in zip([3, 1, 0, 2, 0, 4, 1], ids, strict=True):
        for voter in voters[:count]:
            assert (await put_vote(voter, reply_id)).status_code == 200
    reader = voters[-1]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = await top_page(reader.client, slug, cursor)
        shown = [reply["id"] for reply in page["replies"]]
        seen += shown
        pages += 1
        # Between pages the votes change: replies not shown yet jump to the top, the shown
        # ones lose theirs, and a new reply arrives.
        for reply_id in ids:
            if reply_id not in seen:
                for voter in voters[:5]:
                    assert (await put_vote(voter, reply_id)).status_code == 200
            else:
                for voter in voters[:5]:
                    assert (await delete_vote(voter, reply_id)).status_code == 200
        await reply_to(poster, slug, f"Posted while paging {pages}")
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 20
    assert len(seen) == len(set(seen)), seen
    assert set(ids) <= set(seen)
    assert pages >= 4

    # The page takes the same cursor: after the API's first chunk, the rest in the same order.
    first = await top_page(reader.client, slug, None)
    rest = await reader.client.get(
        f"/api/articles/{slug}/replies",
        params={"order": "top", "limit": "100", "cursor": first["next_cursor"]},
    )
    html = BeautifulSoup(
        (await reader.client.get(f"/a/{slug}?order=top&cursor={first['next_cursor']}")).text,
        "html.parser",
    )
    in_page = [int(str(r["id"]).removeprefix("reply-")) for r in html.select("#replies > .reply")]
    assert in_page == [reply["id"] for reply in rest.json()["replies"]]

    bad = await reader.client.get(
        f"/api/articles/{slug}/replies", params={"order": "top", "cursor": "nonsense"}
    )
    assert bad.status_code == 422
    assert "cursor" in bad.json()["errors"]


# The page --------------------------------------------------------------------------------------


async def test_the_page_votes_with_htmx_and_without_js(
    fresh_article: Article, poster: Member, voters: list[Member]
) -> None:
    slug = fresh_article.slug
    reply_id = await reply_to(poster, slug, "Vote from the page")
    voter = voters[0]
    page = BeautifulSoup((await voter.client.get(f"/a/{slug}")).text, "html.parser")
    widget = page.select_one(f"#vote-{reply_id}")
    assert widget is not None
    assert page.select_one(f"#score-{reply_id}").get_text() == "0"  # type: ignore[union-attr]
    orders = [link.get_text() for link in page.select(".thread-order a")]
    assert "Top" in orders

    # Without JS: the widget's GET leads to a page that confirms with a POST.
    confirm = await voter.client.get(f"/a/{slug}/r/{reply_id}/vote", params={"vote": "up"})
    form = BeautifulSoup(confirm.text, "html.parser").select_one('main form[action$="/vote"]')
    assert form is not None
    fields = {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}
    assert confirm.status_code == 200, confirm.text
    posted = await voter.client.post(str(form["action"]), data=fields)
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"] == f"/a/{slug}/r/{reply_id}#reply-{reply_id}"
    assert await stored_score(reply_id) == (1, 1)

    # With htmx: the widget comes back with the vote standing, and a click takes it back.
    headers = {**HTMX, "X-CSRF-Token": voter.csrf}
    again = await voter.client.post(
        f"/a/{slug}/r/{reply_id}/vote", data={"vote": "undo"}, headers=headers
    )
    assert again.status_code == 200, again.text
    widget = BeautifulSoup(again.text, "html.parser")
    assert widget.select_one(f"#score-{reply_id}").get_text() == "0"  # type: ignore[union-attr]
    assert widget.select_one("button")["aria-pressed"] == "false"  # type: ignore[index]
    own = await poster.client.post(
        f"/a/{slug}/r/{reply_id}/vote",
        data={"vote": "up"},
        headers={**HTMX, "X-CSRF-Token": poster.csrf},
    )
    assert own.status_code == 403
    assert "own reply" in own.text


# Live ------------------------------------------------------------------------------------------


async def score_frames_until_posted(ws: object, posted_id: int) -> list[Message]:
    """The score frames received before the reply.posted frame of posted_id."""
    frames: list[Message] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame: Message = json.loads(await ws.recv())  # type: ignore[attr-defined]
            if frame["type"] == "reply.score":
                frames.append(frame)
            elif frame["type"] == "reply.posted" and frame["reply_id"] == posted_id:
                return frames


async def test_a_score_reaches_another_open_page(
    server: LiveServer, fresh_article: Article, poster: Member, voters: list[Member]
) -> None:
    reply_id = await reply_to(poster, fresh_article.slug, "Watch my score")
    async with connect(server, fresh_article.slug) as ws:
        assert (await put_vote(voters[0], reply_id)).status_code == 200
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "reply.score":
                    break
    assert (frame["reply_id"], frame["score"]) == (reply_id, 1)
    partial = BeautifulSoup(frame["content"], "html.parser").select_one("hx-partial")
    assert partial is not None
    assert (partial["hx-target"], partial.get_text()) == (f"#score-{reply_id}", "1")
    # Votes take no place in the thread's stream.
    assert "seq" not in frame


async def test_a_burst_of_votes_sends_one_frame_per_reply_per_interval(tmp_path: Path) -> None:
    # A window of 2 s opens at the first vote: the whole burst falls inside it.
    with own_server(tmp_path, LIVE_SCORE_SECONDS="2") as live:
        members = []
        for n in range(5):
            credentials = {"username": f"burst_{n}", "password": PASSWORD}
            client = httpx.AsyncClient(base_url=live.url, timeout=10)
            assert (await client.post("/api/accounts", json=credentials)).status_code == 201
            session = await client.post("/api/session", json=credentials)
            members.append(Member(credentials["username"], client, session.json()["csrf_token"]))
        try:
            author, others = members[0], members[1:]
            slug = (await author.client.get("/api/articles")).json()["articles"][0]["slug"]
            reply_id = await reply_to(author, slug, "A burst of votes")
            async with connect(live, slug) as ws:
                await asyncio.gather(*[put_vote(member, reply_id) for member in others])
                # Past the window's end (trailing edge): its one frame has gone out by then.
                await asyncio.sleep(4.5)
                sentinel = await reply_to(author, slug, "After the burst")
                frames = await score_frames_until_posted(ws, sentinel)
            assert len(frames) == 1, frames
            assert frames[0]["reply_id"] == reply_id
            assert frames[0]["score"] == len(others)
        finally:
            for member in members:
                await member.client.aclose()
