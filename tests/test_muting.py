"""Muting: a member mutes another through the API or the forms; that member's replies are
collapsed for the muter in the page, its fragments and live frames, and notify the muter no
more (bell, mail, feed); a deleted account's mutes go both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup, Tag

from models import Article, MailStatus, Mute, Notification, OutboxItem, Subscription, User
from tests.conftest import PASSWORD, LiveServer, Member, sign_up
from tests.test_live import Message, connect, cookie_header, next_event, partials, resume
from tests.test_moderation import enrol, user_row

HTMX = {"HX-Request": "true"}
COLLAPSED = "Reply by a muted member — show"


@pytest_asyncio.fixture
async def muter(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """The member who mutes."""
    someone = await enrol(server, "muter")
    yield someone
    await someone.client.aclose()


@pytest_asyncio.fixture
async def loud(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """The member muted."""
    someone = await enrol(server, "loud")
    yield someone
    await someone.client.aclose()


async def mute(member: Member, name: str) -> httpx.Response:
    return await member.client.post(f"/api/me/muted/{name}", headers=member.headers())


async def unmute(member: Member, name: str) -> httpx.Response:
    return await member.client.delete(f"/api/me/muted/{name}", headers=member.headers())


async def reply_to(
    member: Member, article: Article, body: str, parent_id: int | None = None
) -> int:
    response = await member.post_reply(body, parent_id, slug=article.slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def collapsed(page: BeautifulSoup | Tag, reply_id: int) -> bool:
    """Whether the reply's main block is folded into a closed "muted member" line."""
    main = page.select_one(f"#reply-{reply_id}-main")
    assert main is not None, f"reply {reply_id} is not in the page"
    details = main.select_one(":scope > details.muted-reply")
    if details is None:
        return False
    summary = details.select_one("summary")
    assert summary is not None and summary.get_text(strip=True) == COLLAPSED
    assert not details.has_attr("open")
    # Opened, it shows the reply whole: the text is inside, not gone.
    assert details.select_one(".reply-body") is not None
    return True


# The API -------------------------------------------------------------------------------------


async def test_a_member_mutes_lists_and_unmutes_another(muter: Member, loud: Member) -> None:
    muted = await mute(muter, loud.username.upper())
    assert muted.status_code == 200, muted.text
    assert muted.json() == {"username": loud.username, "muted": True}
    assert (await mute(muter, loud.username)).status_code == 200  # again: nothing changes
    listed = (await muter.client.get("/api/me/muted")).json()["muted"]
    assert [row["username"] for row in listed] == [loud.username]
    datetime.fromisoformat(listed[0]["since"])
    assert await Mute.filter(user__username=muter.username).count() == 1
    exported = (await muter.client.get("/api/me/export")).json()
    assert [row["username"] for row in exported["muted"]] == [loud.username]
    # Muting is one-way: the muted member's list stays empty.
    assert (await loud.client.get("/api/me/muted")).json() == {"muted": []}

    gone = await unmute(muter, loud.username)
    assert gone.status_code == 204, gone.text
    assert (await unmute(muter, loud.username)).status_code == 204
    assert (await muter.client.get("/api/me/muted")).json() == {"muted": []}


async def test_refusals_name_the_field_and_change_nothing(
    muter: Member, anon: httpx.AsyncClient
) -> None:
    itself = await mute(muter, muter.username)
    assert itself.status_code == 422
    assert itself.json()["errors"]["username"] == "You cannot mute yourself."
    nobody = await mute(muter, "no_such_member_here")
    assert nobody.status_code == 404
    assert "errors" in nobody.json()
    assert (await unmute(muter, "no_such_member_here")).status_code == 404
    forged = await muter.client.post(f"/api/me/muted/{muter.username}x")
    assert forged.status_code == 403
    assert (await anon.get("/api/me/muted")).status_code == 401
    assert (await anon.post(f"/api/me/muted/{muter.username}")).status_code in (401, 403)
    assert await Mute.filter(user__username=muter.username).count() == 0


# Pages and fragments ---------------------------------------------------------------------------


async def test_the_muted_members_replies_are_collapsed_for_the_muter_only(
    fresh_article: Article, muter: Member, loud: Member, other_member: Member
) -> None:
    first = await reply_to(other_member, fresh_article, "A calm first reply")
    noisy = await reply_to(loud, fresh_article, "LOUD TOP-LEVEL REPLY")
    answer = await reply_to(other_member, fresh_article, "A calm answer", noisy)
    noisy_child = await reply_to(loud, fresh_article, "LOUD ANSWER", first)
    assert (await mute(muter, loud.username)).status_code == 200

    page = parse((await muter.client.get(f"/a/{fresh_article.slug}")).text)
    assert collapsed(page, noisy) and collapsed(page, noisy_child)
    # Only the muted member's own blocks fold: the replies under them stay open.
    assert not collapsed(page, first) and not collapsed(page, answer)
    for someone in (other_member, loud):
        theirs = parse((await someone.client.get(f"/a/{fresh_article.slug}")).text)
        assert not theirs.select("details.muted-reply")

    # The "load more" fragment of top-level replies, and the children of a reply.
    more = await muter.client.get(
        f"/a/{fresh_article.slug}", params={"order": "oldest", "cursor": first}, headers=HTMX
    )
    assert more.status_code == 200
    fragment = parse(more.text)
    assert fragment.select_one("html") is None
    assert collapsed(fragment, noisy) and not collapsed(fragment, answer)
    children = await muter.client.get(
        f"/a/{fresh_article.slug}/r/{first}", params={"after": 0}, headers=HTMX
    )
    assert collapsed(parse(children.text), noisy_child)
    # The permalink page: the reply itself and the ones above it.
    permalink = parse((await muter.client.get(f"/a/{fresh_article.slug}/r/{answer}")).text)
    assert collapsed(permalink, noisy) and not collapsed(permalink, answer)

    assert (await unmute(muter, loud.username)).status_code == 204
    page = parse((await muter.client.get(f"/a/{fresh_article.slug}")).text)
    assert not page.select("details.muted-reply")


async def test_the_forms_mute_and_unmute_without_javascript_and_with_htmx(
    muter: Member, loud: Member
) -> None:
    profile = parse((await muter.client.get(f"/u/{loud.username}")).text)
    form = profile.select_one("form.mute-form")
    assert form is not None and form["action"] == f"/u/{loud.username}/mute"
    assert form.get_text(" ", strip=True).startswith("Mute")
    # No Mute button on one's own page, nor for visitors.
    own = parse((await muter.client.get(f"/u/{muter.username}")).text)
    assert own.select_one("form.mute-form") is None

    sent = await muter.client.post(
        f"/u/{loud.username}/mute", data={"csrf_token": muter.csrf}, follow_redirects=False
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/u/{loud.username}"
    profile = parse((await muter.client.get(f"/u/{loud.username}")).text)
    form = profile.select_one("form.mute-form")
    assert form is not None and form["action"] == f"/u/{loud.username}/unmute"
    button = form.select_one("button")
    assert button is not None and button["aria-pressed"] == "true"

    settings = parse((await muter.client.get("/settings")).text)
    [entry] = settings.select(".muted-members li")
    assert entry.select_one("a")["href"] == f"/u/{loud.username}"  # type: ignore[index]
    unmute_form = entry.select_one("form")
    assert unmute_form is not None and unmute_form["action"] == f"/u/{loud.username}/unmute"
    fields = {
        str(field["name"]): str(field.get("value", "")) for field in unmute_form.select("input")
    }
    fields["csrf_token"] = muter.csrf
    back = await muter.client.post(str(unmute_form["action"]), data=fields, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/settings?done=unmuted"
    settings = parse((await muter.client.get(back.headers["location"])).text)
    assert not settings.select(".muted-members li")

    # With htmx, the button is swapped in place.
    swapped = await muter.client.post(
        f"/u/{loud.username}/mute", data={"csrf_token": muter.csrf}, headers=HTMX
    )
    assert swapped.status_code == 200
    fragment = parse(swapped.text)
    assert fragment.select_one("html") is None
    form = fragment.select_one("form.mute-form")
    assert form is not None and form["action"] == f"/u/{loud.username}/unmute"
    assert await Mute.filter(user__username=muter.username).count() == 1


# Live frames ---------------------------------------------------------------------------------


async def posted_frame(ws: object, reply_id: int) -> Message:
    """The frame of this posted reply (skipping anything else, e.g. a mute notice)."""
    while True:
        frame = await next_event(ws)  # type: ignore[arg-type]
        if frame.get("reply_id") == reply_id:
            return frame


def inserted(frame: Message, target: str) -> Tag:
    article = partials(frame)[target].find("article")
    assert isinstance(article, Tag)
    return article


async def test_live_frames_reach_the_muter_collapsed_and_others_whole(
    server: LiveServer, fresh_article: Article, muter: Member, loud: Member
) -> None:
    slug = fresh_article.slug
    assert (await mute(muter, loud.username)).status_code == 200
    as_muter = {"additional_headers": {"Cookie": cookie_header(muter)}}
    async with connect(server, slug, **as_muter) as mine, connect(server, slug) as theirs:
        noisy = await reply_to(loud, fresh_article, "LOUD LIVE REPLY")
        frame = await posted_frame(mine, noisy)
        assert collapsed(inserted(frame, "#live-buffer"), noisy) and frame["muted"] is True
        whole = await posted_frame(theirs, noisy)
        assert not collapsed(inserted(whole, "#live-buffer"), noisy) and "muted" not in whole

        # Replayed on resume, it is collapsed again for the muter.
        await resume(mine, frame["seq"] - 1)
        assert collapsed(inserted(await posted_frame(mine, noisy), "#live-buffer"), noisy)

        # Unmuted while the page is open: the page is told, and frames come whole from then on.
        assert (await unmute(muter, loud.username)).status_code == 204
        async with asyncio.timeout(20):
            while True:
                notice = await next_event(mine)
                if notice["type"] == "mute":
                    break
        assert notice == {"type": "mute", "author": loud.username, "muted": False}
        calm = await reply_to(loud, fresh_article, "A calmer live reply")
        assert not collapsed(inserted(await posted_frame(mine, calm), "#live-buffer"), calm)

        # Muted again from another page: the next frame is collapsed.
        assert (await mute(muter, loud.username)).status_code == 200
        again = await reply_to(loud, fresh_article, "LOUD AGAIN")
        assert collapsed(inserted(await posted_frame(mine, again), "#live-buffer"), again)


# Notifications -------------------------------------------------------------------------------


async def test_no_notification_from_a_muted_member_reaches_the_muter(
    server: LiveServer, fresh_article: Article, muter: Member, loud: Member
) -> None:
    bystander = await enrol(server, "bystander")
    try:
        verified = {"email_verified_at": datetime.now(UTC)}
        for someone in (muter, bystander):
            row = await user_row(someone)
            await User.filter(id=row.id).update(email=f"{row.username}@example.org", **verified)
            await Subscription.create(user_id=row.id, article_id=fresh_article.id, active=True)
        mine = await reply_to(muter, fresh_article, "Something to answer")
        # Mail about a reply from before the mute, still waiting for its window, does not go.
        before = await reply_to(loud, fresh_article, "Said before the mute", mine)
        [waiting] = await OutboxItem.filter(recipient__username=muter.username, reply_id=before)
        assert waiting.status == MailStatus.PENDING
        assert (await mute(muter, loud.username)).status_code == 200
        await waiting.refresh_from_db()
        assert waiting.status == MailStatus.CANCELLED

        answer = await reply_to(loud, fresh_article, "AN ANSWER YOU WILL NOT SEE", mine)
        muter_row, bystander_row = await user_row(muter), await user_row(bystander)
        assert not await Notification.filter(user_id=muter_row.id, reply_id=answer).exists()
        assert not await OutboxItem.filter(recipient_id=muter_row.id, reply_id=answer).exists()
        # Everyone else is notified as before: the rule is the muter's alone.
        assert await Notification.filter(user_id=bystander_row.id, reply_id=answer).exists()
        assert await OutboxItem.filter(recipient_id=bystander_row.id, reply_id=answer).exists()
        bell = (await muter.client.get("/api/notifications")).json()
        assert answer not in [item["reply_id"] for item in bell["items"]]

        # Unmuted, the member's replies notify again.
        assert (await unmute(muter, loud.username)).status_code == 204
        later = await reply_to(loud, fresh_article, "Heard again", mine)
        assert await Notification.filter(user_id=muter_row.id, reply_id=later).exists()
        assert await OutboxItem.filter(recipient_id=muter_row.id, reply_id=later).exists()
    finally:
        await bystander.client.aclose()


# Deleting an account -------------------------------------------------------------------------


async def test_a_deleted_account_takes_its_mutes_both_ways(
    server: LiveServer, db: None, muter: Member, loud: Member
) -> None:
    leaving = await sign_up(server)
    try:
        assert (await mute(leaving, loud.username)).status_code == 200
        assert (await mute(muter, leaving.username)).status_code == 200
        row = await User.get(username_key=leaving.username.lower())
        assert await Mute.filter(user_id=row.id).count() == 1
        gone = await leaving.client.request(
            "DELETE",
            "/api/me",
            json={"password": PASSWORD, "replies": "keep"},
            headers=leaving.headers(),
        )
        assert gone.status_code == 204, gone.text
        assert await Mute.filter(user_id=row.id).count() == 0
        assert await Mute.filter(muted_id=row.id).count() == 0
        assert (await muter.client.get("/api/me/muted")).json() == {"muted": []}
        # Its name is no one's now: there is nobody to mute by it.
        assert (await mute(muter, leaving.username)).status_code == 404
    finally:
        await leaving.client.aclose()
