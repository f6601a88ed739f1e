"""Account settings: changing the password, mail choices, and the list of signed-in sessions
with "sign out this one" and "sign out everywhere"; ended sessions close their open pages."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
from bs4 import BeautifulSoup

from forum.accounts.identity import SESSION_COOKIE
from models import Article, Role, Session, User
from tests.conftest import PASSWORD, SLUG, LiveServer, Member
from tests.test_live import connect, next_event, partials, resume
from tests.test_live_accounts import CLOSE_SIGNED_OUT, frames_until_closed
from tests.test_moderation import enrol, open_socket

NEW_PASSWORD = "another good passphrase"


async def second_browser(server: LiveServer, member: Member) -> Member:
    """The same account signed in from another client."""
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    response = await client.post(
        "/api/session", json={"username": member.username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return Member(member.username, client, response.json()["csrf_token"])


async def signs_in(server: LiveServer, username: str, password: str) -> bool:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/api/session", json={"username": username, "password": password}
        )
    return response.status_code == 200


def form_fields(html: str, action: str) -> dict[str, str]:
    """The inputs of the page's form that posts to action."""
    form = BeautifulSoup(html, "html.parser").find("form", action=action)
    assert form is not None, action
    return {field["name"]: field.get("value", "") for field in form.select("input[name]")}


async def test_changing_the_password_ends_the_other_sessions_and_closes_their_pages(
    server: LiveServer, db: None, member: Member
) -> None:
    other = await second_browser(server, member)
    try:
        wrong = await member.client.post(
            "/api/me/password",
            json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
            headers=member.headers(),
        )
        assert wrong.status_code == 422
        assert set(wrong.json()["errors"]) == {"current_password"}
        async with open_socket(server, f"/a/{SLUG}/live", other) as page:
            changed = await member.client.post(
                "/api/me/password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers=member.headers(),
            )
            assert changed.status_code == 200, changed.text
            assert changed.json() == {"ended": 1}
            frames, code = await frames_until_closed(page)
        assert code == CLOSE_SIGNED_OUT
        assert frames[-1]["type"] == "account"
        assert (await other.client.get("/api/me")).status_code == 401
        assert (await member.client.get("/api/me")).status_code == 200
        assert not await signs_in(server, member.username, PASSWORD)
        assert await signs_in(server, member.username, NEW_PASSWORD)
    finally:
        await other.client.aclose()


async def test_sessions_are_listed_and_signed_out_one_by_one_or_all(
    server: LiveServer, db: None, member: Member, other_member: Member
) -> None:
    other = await second_browser(server, member)
    try:
        listed = (await member.client.get("/api/me/sessions")).json()["sessions"]
        assert len(listed) == 2
        [mine] = [s for s in listed if s["current"]]
        [theirs] = [s for s in listed if not s["current"]]
        # Someone else's session is not found, and stays.
        foreign = await other_member.client.delete(
            f"/api/me/sessions/{theirs['id']}", headers=other_member.headers()
        )
        assert foreign.status_code == 404
        assert (await other.client.get("/api/me")).status_code == 200
        ended = await member.client.delete(
            f"/api/me/sessions/{theirs['id']}", headers=member.headers()
        )
        assert ended.status_code == 204
        assert (await other.client.get("/api/me")).status_code == 401
        assert (await member.client.get("/api/me")).status_code == 200
        assert not await Session.exists(id=theirs["id"])
        third = await second_browser(server, member)
        everywhere = await member.client.delete("/api/me/sessions", headers=member.headers())
        assert everywhere.json() == {"ended": 2}
        assert (await member.client.get("/api/me")).status_code == 401
        assert (await third.client.get("/api/me")).status_code == 401
        assert not await Session.exists(id=mine["id"])
        await third.client.aclose()
    finally:
        await other.client.aclose()


async def test_the_settings_page_works_without_javascript(
    server: LiveServer, db: None, member: Member
) -> None:
    other = await second_browser(server, member)
    try:
        page = await member.client.get("/settings")
        assert page.status_code == 200
        soup = BeautifulSoup(page.text, "html.parser")
        assert soup.find("a", href="/settings") is not None
        assert len(soup.select("ul.sessions li")) == 2

        # Mail choices: an unchecked box is off.
        fields = form_fields(page.text, "/settings/notifications")
        saved = await member.client.post(
            "/settings/notifications",
            data={"csrf_token": fields["csrf_token"], "notify_replies": "on"},
        )
        assert saved.status_code == 303
        me = (await member.client.get("/api/me")).json()
        assert me["email_notifications"] is False and me["notify_replies"] is True

        # A bad address is refused beside its field, and nothing changes.
        refused = await member.client.post(
            "/settings/email", data={"csrf_token": fields["csrf_token"], "email": "nope@"}
        )
        assert refused.status_code == 422
        error = BeautifulSoup(refused.text, "html.parser").select_one("#field-email-error")
        assert error is not None
        assert (await member.client.get("/api/me")).json()["email"] is None

        # The password, then one session, then every session.
        changed = await member.client.post(
            "/settings/password",
            data={
                "csrf_token": fields["csrf_token"],
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 303
        assert (await other.client.get("/api/me")).status_code == 401

        # Another browser signs in; this one signs it out, then signs out everywhere.
        async with httpx.AsyncClient(base_url=server.url) as third:
            signed_in = await third.post(
                "/api/session", json={"username": member.username, "password": NEW_PASSWORD}
            )
            assert signed_in.status_code == 200
            page = await member.client.get("/settings")
            soup = BeautifulSoup(page.text, "html.parser")
            [other_row] = [
                li for li in soup.select("ul.sessions li") if "this browser" not in li.text
            ]
            form = other_row.find("form")
            assert form is not None
            out = await member.client.post(
                form["action"], data={"csrf_token": fields["csrf_token"]}
            )
            assert out.status_code == 303
            assert (await third.get("/api/me")).status_code == 401
        everywhere = await member.client.post(
            "/settings/sessions/end", data={"csrf_token": fields["csrf_token"]}
        )
        assert everywhere.status_code == 303 and everywhere.headers["location"] == "/"
        assert (await member.client.get("/api/me")).status_code == 401
        assert (await member.client.get("/settings")).status_code == 303
    finally:
        await other.client.aclose()


async def test_the_export_holds_the_accounts_data_and_no_secret(
    server: LiveServer, db: None, member: Member, other_member: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    mine = await member.post_reply("My own words, **exported**", slug=slug)
    theirs = await other_member.post_reply("Someone else's words", slug=slug)
    assert mine.status_code == theirs.status_code == 201
    answer = await other_member.post_reply("An answer to you", mine.json()["id"], slug=slug)
    assert answer.status_code == 201
    followed = await member.client.post(
        f"/api/articles/{slug}/subscription", headers=member.headers()
    )
    assert followed.status_code == 200
    flagged = await member.client.post(
        f"/api/replies/{theirs.json()['id']}/flags",
        json={"reason": "other", "note": "my flag note"},
        headers=member.headers(),
    )
    assert flagged.status_code == 201, flagged.text
    feed = await member.client.post("/notifications/feed", data={"csrf_token": member.csrf})
    assert feed.status_code in (200, 303)

    response = await member.client.get("/api/me/export")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {
        "profile",
        "replies",
        "follows",
        "notifications",
        "flags",
        "sessions",
        "muted",
    }
    assert data["profile"]["username"] == member.username
    [reply] = data["replies"]
    assert reply["body"] == "My own words, **exported**" and reply["article"] == slug
    assert data["follows"] == [
        {"article": slug, "following": True, "since": data["follows"][0]["since"]}
    ]
    [notification] = data["notifications"]
    assert notification["reply_id"] == answer.json()["id"]
    [flag] = data["flags"]
    assert flag["note"] == "my flag note" and flag["reply_id"] == theirs.json()["id"]
    assert len(data["sessions"]) == 1
    user = await User.get(username=member.username)
    session_token = member.client.cookies.get(SESSION_COOKIE)
    for secret in (user.password_hash, user.feed_token, session_token, member.csrf, "argon2"):
        assert secret and secret not in response.text
    assert "Someone else's words" not in response.text
    async with httpx.AsyncClient(base_url=server.url) as anon:
        assert (await anon.get("/api/me/export")).status_code == 401


# Deleting the account ------------------------------------------------------------------------


async def delete_me(member: Member, password: str, replies: str) -> httpx.Response:
    return await member.client.request(
        "DELETE",
        "/api/me",
        json={"password": password, "replies": replies},
        headers=member.headers(),
    )


async def test_deleting_and_keeping_the_replies_leaves_no_name_but_the_audit_log(
    server: LiveServer, db: None, member: Member, other_member: Member, fresh_article: Article
) -> None:
    slug, name = fresh_article.slug, member.username
    moderator = await enrol(server, "mod", role=Role.MODERATOR)
    try:
        kept = (await member.post_reply("Words that stay", slug=slug)).json()["id"]
        answer = await other_member.post_reply("An answer", kept, slug=slug)
        assert answer.status_code == 201
        # A moderator's record of the member, under the name as it was.
        suspended = await moderator.client.post(
            f"/api/users/{name}/suspend", json={"reason": "a test"}, headers=moderator.headers()
        )
        assert suspended.status_code == 200, suspended.text
        unsuspended = await moderator.client.post(
            f"/api/users/{name}/unsuspend", headers=moderator.headers()
        )
        assert unsuspended.status_code == 200
        member = await second_browser(server, member)

        wrong = await delete_me(member, "not my password", "keep")
        assert wrong.status_code == 422 and set(wrong.json()["errors"]) == {"password"}
        assert (await member.client.get("/api/me")).status_code == 200
        deleted = await delete_me(member, PASSWORD, "keep")
        assert deleted.status_code == 204
        assert (await member.client.get("/api/me")).status_code == 401
        assert not await signs_in(server, name, PASSWORD)

        async with httpx.AsyncClient(base_url=server.url) as anon:
            sinks = {
                "page": await anon.get(f"/a/{slug}"),
                "permalink": await anon.get(f"/a/{slug}/r/{kept}"),
                "api": await anon.get(f"/api/articles/{slug}/replies"),
                "reply": await anon.get(f"/api/replies/{kept}"),
                "feed": await anon.get(f"/a/{slug}/feed.atom"),
            }
            for sink, response in sinks.items():
                assert response.status_code == 200, sink
                assert name.lower() not in response.text.lower(), sink
            assert "[deleted account]" in sinks["page"].text
            assert sinks["reply"].json()["author"] == "[deleted account]"
            assert "Words that stay" in sinks["reply"].json()["body_html"]
            assert (await anon.get(f"/u/{name}")).status_code == 404
            assert (await anon.get(f"/api/users/{name}")).status_code == 404
        log = (await moderator.client.get("/api/mod/log")).json()
        assert any(name in str(entry) for entry in log["entries"])

        # The name is held back for the quarantine, then free again.
        again = {"username": name, "password": PASSWORD}
        async with httpx.AsyncClient(base_url=server.url) as newcomer:
            assert (await newcomer.post("/api/accounts", json=again)).status_code == 409
            await User.filter(former_username_key=name.lower()).update(
                deleted_at=datetime.now(UTC) - timedelta(days=31)
            )
            assert (await newcomer.post("/api/accounts", json=again)).status_code == 201
    finally:
        await moderator.client.aclose()
        await member.client.aclose()


async def test_kept_replies_are_renamed_live_in_open_pages_and_in_catch_up(
    server: LiveServer, db: None, member: Member, other_member: Member, fresh_article: Article
) -> None:
    slug, name = fresh_article.slug, member.username
    async with connect(server, slug) as page:
        top = (await member.post_reply("My words stay", slug=slug)).json()["id"]
        answer = (await other_member.post_reply("Answered", top, slug=slug)).json()["id"]
        under = (await member.post_reply("Mine again", answer, slug=slug)).json()["id"]
        posted = [await next_event(page) for _ in range(3)]
        assert [frame["reply_id"] for frame in posted] == [top, answer, under]
        before = posted[0]["seq"] - 1

        assert (await delete_me(member, PASSWORD, "keep")).status_code == 204
        renamed: dict[int, str] = {}
        async with asyncio.timeout(10):
            while set(renamed) != {top, under}:
                frame = await next_event(page)
                if frame["type"] == "reply.edited" and frame["op"] == "replace":
                    renamed[frame["reply_id"]] = json.dumps(frame, ensure_ascii=False)
        for reply_id, text in renamed.items():
            assert name.lower() not in text.lower(), reply_id
            frame = json.loads(text)
            assert frame["author"] == "[deleted account]"
            main = partials(frame)[f"#reply-{reply_id}-main"]
            author = main.select_one(".author")
            assert author is not None and author.get_text(strip=True) == "[deleted account]"
            assert author.find("a") is None and author.name != "a"

    # A page that was away catches up from before the replies: the name is nowhere either.
    async with connect(server, slug) as late:
        await resume(late, before)
        replayed = [await next_event(late) for _ in range(5)]
        assert {frame["reply_id"] for frame in replayed} == {top, answer, under}
        for frame in replayed:
            assert name.lower() not in json.dumps(frame, ensure_ascii=False).lower()


async def test_deleting_with_the_replies_leaves_stubs_only_where_answered(
    server: LiveServer, db: None, member: Member, other_member: Member, fresh_article: Article
) -> None:
    slug, name = fresh_article.slug, member.username
    answered = (await member.post_reply("Answered words", slug=slug)).json()["id"]
    await other_member.post_reply("An answer by someone else", answered, slug=slug)
    alone = (await member.post_reply("Lonely words", slug=slug)).json()["id"]
    own_thread = (await member.post_reply("Talking to myself", slug=slug)).json()["id"]
    own_answer = (await member.post_reply("Still me", own_thread, slug=slug)).json()["id"]
    async with open_socket(server, f"/a/{slug}/live") as page:
        deleted = await delete_me(member, PASSWORD, "delete")
        assert deleted.status_code == 204
        gone: set[int] = set()
        async with asyncio.timeout(10):
            while not {answered, alone, own_thread, own_answer} <= gone:
                frame = json.loads(await page.recv())
                if frame["type"] == "reply.deleted":
                    gone.add(frame["reply_id"])
    async with httpx.AsyncClient(base_url=server.url) as anon:
        stub = (await anon.get(f"/api/replies/{answered}")).json()
        assert stub["deleted"] is True and stub["author"] is None
        for reply_id in (alone, own_thread, own_answer):
            assert (await anon.get(f"/api/replies/{reply_id}")).status_code == 404
        page_text = (await anon.get(f"/a/{slug}")).text
    assert name not in page_text and "Answered words" not in page_text
    assert "An answer by someone else" in page_text
    assert not await Session.exists(user__former_username_key=name.lower())


async def test_the_settings_page_deletes_the_account_with_its_password(
    server: LiveServer, db: None, member: Member
) -> None:
    page = await member.client.get("/settings")
    fields = form_fields(page.text, "/settings/delete")
    checked = BeautifulSoup(page.text, "html.parser").select_one("input[name=replies][checked]")
    assert checked is not None and checked["value"] == "keep"  # replies stay unless asked
    fields["replies"] = "keep"
    wrong = await member.client.post(
        "/settings/delete", data={**fields, "delete_password": "not it at all"}
    )
    assert wrong.status_code == 422
    soup = BeautifulSoup(wrong.text, "html.parser")
    assert soup.select_one("#field-delete_password-error") is not None
    assert (await member.client.get("/api/me")).status_code == 200
    done = await member.client.post(
        "/settings/delete", data={**fields, "replies": "delete", "delete_password": PASSWORD}
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert (await member.client.get("/api/me")).status_code == 401
    assert not await signs_in(server, member.username, PASSWORD)
