"""Reply notifications in the page and the API: following threads, who is notified of what, the
bell and the notifications page, and the Atom feeds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup, Tag

from models import Article, Notification, Role, Subscription, User
from tests.conftest import LiveServer, Member, sign_up, unique_name

HTMX = {"HX-Request": "true"}
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest_asyncio.fixture(scope="module")
async def moderator(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """A member promoted to moderator through the ORM."""
    someone = await sign_up(server)
    await User.filter(username=someone.username).update(role=Role.MODERATOR)
    yield someone
    await someone.client.aclose()


def parse(html: str) -> BeautifulSoup:
    """An HTML page or fragment, parsed."""
    return BeautifulSoup(html, "html.parser")


def permalink(server: LiveServer, article: Article, reply_id: int) -> str:
    """A reply's absolute permalink."""
    return f"{server.url}/a/{article.slug}/r/{reply_id}#reply-{reply_id}"


async def posted(member: Member, article: Article, body: str, parent_id: int | None = None) -> int:
    """Post a reply through the API; its id."""
    response = await member.post_reply(body, parent_id, article.slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def bell(member: Member) -> dict[str, Any]:
    """GET /api/notifications."""
    response = await member.client.get("/api/notifications")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def notified_of(member: Member, *reply_ids: int) -> set[int]:
    """Which of these replies the member has a notification row about (read or not)."""
    rows = Notification.filter(user__username=member.username, reply_id__in=reply_ids)
    return set(await rows.values_list("reply_id", flat=True))


async def subscribe(member: Member, article: Article, method: str = "POST") -> httpx.Response:
    """POST (follow) or DELETE (leave) /api/articles/{slug}/subscription."""
    return await member.client.request(
        method, f"/api/articles/{article.slug}/subscription", headers=member.headers()
    )


async def is_following(member: Member, article: Article) -> bool:
    """Whether the member's subscription to the thread is active."""
    return await Subscription.exists(
        user__username=member.username, article_id=article.id, active=True
    )


async def hidden(moderator: Member, reply_id: int) -> None:
    """Hide a reply through the moderation API."""
    response = await moderator.client.post(
        f"/api/replies/{reply_id}/hide", json={"reason": "spam"}, headers=moderator.headers()
    )
    assert response.status_code == 200, response.text


def bell_count(page: BeautifulSoup) -> str:
    """The unread count in the page's header."""
    count = page.select_one("#bell-count")
    assert isinstance(count, Tag)
    return str(count["data-count"])


def csrf_field(page: BeautifulSoup, selector: str) -> str:
    """The csrf_token hidden field of a form on a page."""
    field = page.select_one(f"{selector} input[name=csrf_token]")
    assert isinstance(field, Tag)
    return str(field["value"])


# Following ----------------------------------------------------------------------------------------


async def test_the_subscription_api_follows_and_leaves(
    member: Member, anon: httpx.AsyncClient, fresh_article: Article
) -> None:
    path = f"/api/articles/{fresh_article.slug}/subscription"
    assert (await member.client.post(path)).status_code == 403
    assert (await anon.post(path)).status_code == 401
    assert not await is_following(member, fresh_article)

    followed = await subscribe(member, fresh_article)
    assert followed.status_code == 200
    assert followed.json() == {"article": fresh_article.slug, "following": True}
    assert await is_following(member, fresh_article)

    left = await subscribe(member, fresh_article, "DELETE")
    assert left.status_code == 200
    assert left.json() == {"article": fresh_article.slug, "following": False}
    assert not await is_following(member, fresh_article)


async def test_the_follow_button_works_as_a_plain_form_and_with_htmx(
    member: Member, fresh_article: Article
) -> None:
    article_path = f"/a/{fresh_article.slug}"
    form_id = f"#follow-{fresh_article.id}"
    page = parse((await member.client.get(article_path)).text)
    form = page.select_one(form_id)
    assert isinstance(form, Tag)
    assert form["action"] == f"{article_path}/follow"
    assert form.select_one("button[aria-pressed=false]") is not None

    plain = await member.client.post(
        str(form["action"]), data={"csrf_token": csrf_field(page, form_id)}
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == article_path
    assert await is_following(member, fresh_article)
    page = parse((await member.client.get(article_path)).text)
    form = page.select_one(form_id)
    assert isinstance(form, Tag)
    assert form["action"] == f"{article_path}/unfollow"
    assert form.select_one("button[aria-pressed=true]") is not None

    swapped = await member.client.post(
        f"{article_path}/unfollow", data={"csrf_token": csrf_field(page, form_id)}, headers=HTMX
    )
    assert swapped.status_code == 200
    fragment = parse(swapped.text)
    assert fragment.find("html") is None
    button_form = fragment.select_one(form_id)
    assert isinstance(button_form, Tag)
    assert button_form["action"] == f"{article_path}/follow"
    assert not await is_following(member, fresh_article)

    refused = await member.client.post(f"{article_path}/follow", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert not await is_following(member, fresh_article)


# Who is notified ----------------------------------------------------------------------------------


async def test_a_reply_to_ones_reply_notifies_its_author_without_following(
    server: LiveServer, member: Member, other_member: Member, fresh_article: Article
) -> None:
    top = await posted(member, fresh_article, "My reply.")
    answer = await posted(other_member, fresh_article, "An answer.", parent_id=top)

    notices = await bell(member)
    assert notices["unread"] == 1
    [item] = notices["items"]
    assert item["kind"] == "reply"
    assert item["reply_id"] == answer
    assert item["author"] == other_member.username
    assert item["article"] == fresh_article.slug
    assert item["url"] == permalink(server, fresh_article, answer)
    assert item["read"] is False
    assert await notified_of(other_member, top, answer) == set()


async def test_the_setting_turns_notices_of_replies_to_ones_replies_off_and_on(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    page = parse((await member.client.get("/notifications")).text)
    token = csrf_field(page, "form[action='/notifications/settings']")
    top = await posted(member, fresh_article, "Do not tell me about answers.")

    off = await member.client.post("/notifications/settings", data={"csrf_token": token})
    assert off.status_code == 303
    assert not (await User.get(username=member.username)).notify_replies
    quiet = await posted(other_member, fresh_article, "Unheard.", parent_id=top)
    assert await notified_of(member, quiet) == set()

    on = await member.client.post(
        "/notifications/settings", data={"csrf_token": token, "notify_replies": "on"}
    )
    assert on.status_code == 303
    heard = await posted(other_member, fresh_article, "Heard.", parent_id=top)
    assert await notified_of(member, heard) == {heard}


async def test_followers_are_notified_of_new_replies_but_not_of_their_own(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    await subscribe(member, fresh_article)
    own = await posted(member, fresh_article, "Mine.")
    theirs = await posted(other_member, fresh_article, "Someone else's.")

    assert await notified_of(member, own, theirs) == {theirs}
    [item] = (await bell(member))["items"]
    assert (item["reply_id"], item["kind"]) == (theirs, "thread")


async def test_leaving_a_thread_stops_every_notice_even_for_replies_to_ones_replies(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    top = await posted(member, fresh_article, "Said, then left.")
    left = await subscribe(member, fresh_article, "DELETE")
    assert left.status_code == 200

    answer = await posted(other_member, fresh_article, "An answer to you.", parent_id=top)
    elsewhere = await posted(other_member, fresh_article, "Something else.")
    assert await notified_of(member, answer, elsewhere) == set()
    assert (await bell(member))["unread"] == 0


async def test_a_hidden_reply_leaves_the_bell_the_list_and_the_page(
    member: Member, other_member: Member, moderator: Member, fresh_article: Article
) -> None:
    top = await posted(member, fresh_article, "My reply.")
    kept = await posted(other_member, fresh_article, "A fair answer.", parent_id=top)
    spam = await posted(other_member, fresh_article, "Buy pills.", parent_id=top)
    assert (await bell(member))["unread"] == 2

    await hidden(moderator, spam)
    notices = await bell(member)
    assert notices["unread"] == 1
    assert [item["reply_id"] for item in notices["items"]] == [kept]
    page = parse((await member.client.get("/notifications")).text)
    # Each notification links to it (and its author's name to their page).
    [link] = [str(a["href"]) for a in page.select(".notification-list a[href^='/notifications/']")]
    assert [p.get_text() for p in page.select(".notification-list .excerpt")] == ["A fair answer."]
    assert bell_count(page) == "1"
    opened = await member.client.get(link)
    assert opened.headers["location"] == f"/a/{fresh_article.slug}/r/{kept}#reply-{kept}"
    # The hidden reply's notification cannot be opened either.
    [spam_notice] = await Notification.filter(user__username=member.username, reply_id=spam)
    assert (await member.client.get(f"/notifications/{spam_notice.id}")).status_code == 404


# The bell and the notifications page --------------------------------------------------------------


async def test_marking_read_through_the_api_one_or_all(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    top = await posted(member, fresh_article, "Answer me.")
    for n in range(3):
        await posted(other_member, fresh_article, f"Answer {n}.", parent_id=top)
    items = (await bell(member))["items"]
    assert len(items) == 3

    refused = await member.client.post("/api/notifications/read", json={"ids": [items[0]["id"]]})
    assert refused.status_code == 403
    bad = await member.client.post(
        "/api/notifications/read", json={"ids": "all"}, headers=member.headers()
    )
    assert bad.status_code == 422
    one = await member.client.post(
        "/api/notifications/read", json={"ids": [items[0]["id"]]}, headers=member.headers()
    )
    assert one.status_code == 200
    assert one.json() == {"marked": 1, "unread": 2}
    assert [item["read"] for item in (await bell(member))["items"]] == [True, False, False]

    everything = await member.client.post("/api/notifications/read", headers=member.headers())
    assert everything.status_code == 200
    assert everything.json() == {"marked": 2, "unread": 0}
    assert all(item["read"] for item in (await bell(member))["items"])


async def test_the_notifications_page_links_to_permalinks_and_marks_read(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    top = await posted(member, fresh_article, "Answer me.")
    answers = [
        await posted(other_member, fresh_article, f"Answer {n}.", parent_id=top) for n in range(2)
    ]
    page = parse((await member.client.get("/notifications")).text)
    entries = page.select("li.notification")
    links = [str(link["href"]) for link in page.select("li.notification > a")]
    assert [p.get_text() for p in page.select("li.notification .excerpt")] == [
        "Answer 1.",
        "Answer 0.",
    ]
    assert all("is-unread" in entry["class"] for entry in entries)
    newest = entries[0]
    form = newest.select_one("form[action='/notifications/read']")
    assert isinstance(form, Tag)
    fields = {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}

    one = await member.client.post("/notifications/read", data=fields)
    assert one.status_code == 303
    page = parse((await member.client.get("/notifications")).text)
    assert page.select(f"#{newest['id']}.is-unread") == []
    assert bell_count(page) == "1"

    # Following a notification marks it read and lands on the reply.
    assert (await other_member.client.get(links[1])).status_code == 404, "not theirs"
    opened = await member.client.get(links[1])
    assert opened.status_code == 303
    permalink = f"/a/{fresh_article.slug}/r/{answers[0]}#reply-{answers[0]}"
    assert opened.headers["location"] == permalink
    page = parse((await member.client.get("/notifications")).text)
    assert bell_count(page) == "0"

    token = csrf_field(page, "form[action='/notifications/read']:not(:has(input[name=id]))")
    everything = await member.client.post("/notifications/read", data={"csrf_token": token})
    assert everything.status_code == 303
    page = parse((await member.client.get("/notifications")).text)
    assert page.select("li.is-unread") == []
    assert bell_count(page) == "0"


# Feeds --------------------------------------------------------------------------------------------


def atom_entries(body: bytes) -> list[dict[str, str]]:
    """Parse an Atom document; each entry's id, title, link, updated and content."""
    root = ElementTree.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{name}") is not None, name
    entries = []
    for entry in root.findall(f"{ATOM}entry"):
        names = ("id", "title", "updated", "content")
        fields = {name: entry.findtext(f"{ATOM}{name}") or "" for name in names}
        link = entry.find(f"{ATOM}link")
        fields["link"] = link.get("href", "") if link is not None else ""
        assert all(fields.values()), fields
        entries.append(fields)
    return entries


async def test_the_thread_feed_is_atom_without_hidden_replies(
    server: LiveServer,
    anon: httpx.AsyncClient,
    member: Member,
    moderator: Member,
    fresh_article: Article,
) -> None:
    shown, secret = unique_name("shown"), unique_name("hidden")
    visible = await posted(member, fresh_article, f"Visible {shown}")
    spam = await posted(member, fresh_article, f"Spam {secret}")
    await hidden(moderator, spam)

    response = await anon.get(f"/a/{fresh_article.slug}/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    [entry] = atom_entries(response.content)
    assert entry["link"] == permalink(server, fresh_article, visible)
    assert shown in entry["content"]
    assert secret not in response.text


async def test_the_private_feed_lists_replies_to_the_reader_and_renewing_revokes_it(
    server: LiveServer,
    anon: httpx.AsyncClient,
    member: Member,
    other_member: Member,
    moderator: Member,
    fresh_article: Article,
) -> None:
    shown, secret = unique_name("shown"), unique_name("hidden")
    top = await posted(member, fresh_article, "Answer me.")
    answer = await posted(other_member, fresh_article, f"Answer {shown}", parent_id=top)
    spam = await posted(other_member, fresh_article, f"Spam {secret}", parent_id=top)
    await hidden(moderator, spam)

    page = parse((await member.client.get("/notifications")).text)
    token_field = csrf_field(page, "form[action='/notifications/feed']")
    created = await member.client.post("/notifications/feed", data={"csrf_token": token_field})
    assert created.status_code == 303
    first = (await User.get(username=member.username)).feed_token
    assert first
    response = await anon.get(f"/feeds/{first}/replies.atom")
    assert response.status_code == 200
    [entry] = atom_entries(response.content)
    assert entry["link"] == permalink(server, fresh_article, answer)
    assert shown in entry["content"]
    assert secret not in response.text

    renewed = await member.client.post("/notifications/feed", data={"csrf_token": token_field})
    assert renewed.status_code == 303
    second = (await User.get(username=member.username)).feed_token
    assert second and second != first
    assert (await anon.get(f"/feeds/{first}/replies.atom")).status_code == 404
    assert (await anon.get(f"/feeds/{second}/replies.atom")).status_code == 200
