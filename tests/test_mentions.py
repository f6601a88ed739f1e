"""Mentions: `@name` of a member links to their page (not in code, not in links, unknown names
stay text), the member is notified once per reply (on posting, or when an edit adds the name),
never the author, nor for a hidden reply, at most 10 per reply; the notice says "mentioned you"
in the list, the feed and the mail; and the composer's suggestions (GET /api/users?prefix=)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bs4 import BeautifulSoup

from forum.event_types import ReplyEdited
from forum.events import EventBus
from forum.markdown import mention_keys, render_reply
from forum.notifications.mentions import MENTIONS_NOTIFIED_MAX, record_mentions
from models import (
    Article,
    MailStatus,
    Notification,
    NotificationKind,
    OutboxItem,
    Reply,
    Role,
    User,
)
from tests.conftest import LiveServer, Member, start_server, stop_server
from tests.mailbox import (
    Mailbox,
    MailForum,
    address,
    mail_forum,
    new_thread,
    running_mailbox,
    signed_up,
    until,
)
from tests.test_moderation import enrol, hide
from tests.test_notifications import atom_entries

# Rendering ---------------------------------------------------------------------------------------


def test_a_members_name_links_to_their_page_but_not_in_code_or_links() -> None:
    source = (
        "Hi @Bob_1 and @nobody_here, write to bob@bob_1.example.\n\n"
        "In code `@bob_1`, in a [link to @bob_1](https://example.org), **@BOB_1**.\n\n"
        "    @bob_1 in a code block\n\n"
        "```\n@bob_1 fenced\n```\n\n"
        "![@bob_1](https://example.org/a.png) @bob_12345 @bo"
    )
    assert mention_keys(source) == ("bob_1", "nobody_here", "bob_12345")
    page = BeautifulSoup(render_reply(source, mentions={"bob_1": "Bob_1"}), "html.parser")
    mentions = page.select('a[href="/u/Bob_1"]')
    # As typed, linked to the member's page under their own spelling: twice, outside code.
    assert [link.get_text() for link in mentions] == ["@Bob_1", "@BOB_1"]
    assert page.find(string=lambda text: "@nobody_here" in text) is not None
    assert [code.get_text() for code in page.select("code")] == [
        "@bob_1",
        "@bob_1 in a code block\n",
        "@bob_1 fenced\n",
    ]
    [outer] = [a for a in page.select("a") if a["href"] == "https://example.org"]
    assert outer.get_text() == "link to @bob_1" and outer.find("a") is None
    assert "bob@bob_1.example" in page.get_text()


def test_what_surrounds_a_mention_stays_text() -> None:
    source = '@bob_1<script>alert(1)</script> @bob_1"><img src=x onerror=alert(1)>'
    html = render_reply(source, mentions={"bob_1": "Bob_1"})
    page = BeautifulSoup(html, "html.parser")
    assert page.find("script") is None and page.find("img") is None
    assert [a["href"] for a in page.select("a")] == ["/u/Bob_1", "/u/Bob_1"]
    assert "<script>alert(1)</script>" in page.get_text()


# Who is notified ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def cast(server: LiveServer, db: None) -> AsyncIterator[dict[str, Member]]:
    """An author, three members to mention and a moderator (made in the database)."""
    made = {
        "author": await enrol(server, "author"),
        "bob": await enrol(server, "bob"),
        "carol": await enrol(server, "carol"),
        "dave": await enrol(server, "dave"),
        "mod": await enrol(server, "mod", role=Role.MODERATOR),
    }
    yield made
    for member in made.values():
        await member.client.aclose()


async def posted(member: Member, article: Article, body: str, parent_id: int | None = None) -> int:
    response = await member.post_reply(body, parent_id, article.slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def edited(member: Member, reply_id: int, body: str) -> dict[str, Any]:
    response = await member.client.patch(
        f"/api/replies/{reply_id}", json={"body": body}, headers=member.headers()
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def notices(reply_id: int) -> dict[str, str]:
    """Every notification of the reply: the username notified and why."""
    rows = await Notification.filter(reply_id=reply_id).select_related("user")
    return {row.user.username: str(row.kind) for row in rows}


async def bell(member: Member) -> dict[str, Any]:
    response = await member.client.get("/api/notifications")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_mention_notifies_once_and_links_the_name(
    fresh_article: Article, cast: dict[str, Member]
) -> None:
    author, bob = cast["author"], cast["bob"]
    upper = bob.username.upper()
    reply_id = await posted(author, fresh_article, f"Thanks @{upper}, and @{upper} again. @ghost_x")
    assert await notices(reply_id) == {bob.username: "mention"}

    shown = (await author.client.get(f"/api/replies/{reply_id}")).json()
    page = BeautifulSoup(shown["body_html"], "html.parser")
    assert [a["href"] for a in page.select("a")] == [f"/u/{bob.username}"] * 2
    assert "@ghost_x" in page.get_text()

    listed = await bell(bob)
    assert listed["unread"] == 1
    assert [(item["kind"], item["reply_id"]) for item in listed["items"]] == [("mention", reply_id)]
    own = BeautifulSoup((await bob.client.get("/notifications")).text, "html.parser")
    item = own.select_one(".notification")
    assert item is not None
    # The author's name (a link to their page), then the notification's own link.
    assert f"{author.username} mentioned you in “{fresh_article.title}”" in " ".join(
        item.get_text().split()
    )
    link = item.select_one("a[href^='/notifications/']")
    assert link is not None and "mentioned you in" in link.get_text()


async def test_an_edit_notifies_the_names_it_adds_and_no_one_twice(
    fresh_article: Article, cast: dict[str, Member]
) -> None:
    author, bob, carol = cast["author"], cast["bob"], cast["carol"]
    reply_id = await posted(author, fresh_article, f"Asking @{bob.username}.")
    assert await notices(reply_id) == {bob.username: "mention"}
    # Keeping the name: nothing new.
    await edited(author, reply_id, f"Asking @{bob.username}, politely.")
    assert await Notification.filter(reply_id=reply_id).count() == 1
    # Adding a name: that member, once.
    body = f"Asking @{bob.username} and @{carol.username}."
    reply = await edited(author, reply_id, body)
    assert f'href="/u/{carol.username}"' in reply["body_html"]
    await edited(author, reply_id, body + " Really.")
    assert await notices(reply_id) == {bob.username: "mention", carol.username: "mention"}
    assert (await bell(carol))["unread"] == 1
    assert (await bell(bob))["unread"] == 1
    # A name taken out and put back is no news either.
    await edited(author, reply_id, "Never mind.")
    await edited(author, reply_id, body)
    assert await Notification.filter(reply_id=reply_id).count() == 2


async def test_the_author_is_not_notified_of_their_own_mention(
    fresh_article: Article, cast: dict[str, Member]
) -> None:
    author = cast["author"]
    reply_id = await posted(author, fresh_article, f"Note to self, @{author.username}.")
    assert await notices(reply_id) == {}
    await edited(author, reply_id, f"Note to @{author.username.upper()}.")
    assert await notices(reply_id) == {}


async def test_a_mentioned_parent_author_is_told_once_that_they_were_mentioned(
    fresh_article: Article, cast: dict[str, Member]
) -> None:
    author, bob = cast["author"], cast["bob"]
    follow = await bob.client.post(
        f"/api/articles/{fresh_article.slug}/subscription", headers=bob.headers()
    )
    assert follow.status_code == 200
    top = await posted(bob, fresh_article, "A thought.")
    answer = await posted(author, fresh_article, f"@{bob.username} I agree.", top)
    # Answered, following the thread and mentioned: one notice, the mention.
    assert await notices(answer) == {bob.username: "mention"}
    plain = await posted(author, fresh_article, "No names here.", top)
    assert await notices(plain) == {bob.username: "reply"}


async def test_a_hidden_reply_notifies_no_one_and_its_notice_follows_its_visibility(
    fresh_article: Article, cast: dict[str, Member]
) -> None:
    author, bob, carol, moderator = cast["author"], cast["bob"], cast["carol"], cast["mod"]
    reply_id = await posted(author, fresh_article, f"Hey @{bob.username}, secret stuff.")
    assert (await bell(bob))["unread"] == 1
    await hide(moderator, reply_id)
    listed = await bell(bob)
    assert (listed["unread"], listed["items"]) == (0, [])
    page = BeautifulSoup((await bob.client.get("/notifications")).text, "html.parser")
    assert "secret stuff" not in page.get_text()
    # Its author cannot edit it now; and were it edited, a hidden reply names no one.
    refused = await author.client.patch(
        f"/api/replies/{reply_id}",
        json={"body": f"Hey @{carol.username}"},
        headers=author.headers(),
    )
    assert refused.status_code == 404
    await Reply.filter(id=reply_id).update(source=f"Hey @{carol.username}")
    bus = EventBus()
    async with bus.transaction() as tx:
        await record_mentions(
            ReplyEdited(article_id=fresh_article.id, reply_id=reply_id), tx, coalesce_seconds=0
        )
    assert await notices(reply_id) == {bob.username: "mention"}
    # Shown again: the notice is back, with its excerpt.
    shown = await moderator.client.post(
        f"/api/replies/{reply_id}/unhide", json={}, headers=moderator.headers()
    )
    assert shown.status_code == 200, shown.text
    page = BeautifulSoup((await bob.client.get("/notifications")).text, "html.parser")
    assert page.select_one(".notification .excerpt") is not None


async def test_at_most_ten_mentions_of_a_reply_notify(
    server: LiveServer, fresh_article: Article, cast: dict[str, Member]
) -> None:
    author = cast["author"]
    crowd = [await enrol(server, "crowd") for _ in range(MENTIONS_NOTIFIED_MAX + 3)]
    try:
        names = " ".join(f"@{member.username}" for member in crowd)
        reply_id = await posted(author, fresh_article, f"@{author.username} {names}")
        told = await notices(reply_id)
        # The first ten in the text's order (the author's own name is no mention).
        assert told == {m.username: "mention" for m in crowd[:MENTIONS_NOTIFIED_MAX]}
        # Nor do edits add beyond ten, whatever names they bring.
        late = await enrol(server, "late")
        await edited(author, reply_id, f"@{late.username} {names}")
        assert await notices(reply_id) == told
        await late.client.aclose()
        # Every name is still a link.
        html = (await Reply.get(id=reply_id)).html
        for member in crowd:
            assert f'href="/u/{member.username}"' in html
    finally:
        for member in crowd:
            await member.client.aclose()


async def test_no_mention_notice_for_suspended_members_or_who_left_the_thread(
    server: LiveServer, fresh_article: Article, cast: dict[str, Member]
) -> None:
    author, bob = cast["author"], cast["bob"]
    suspended = await enrol(server, "away", suspended=True)
    left = await bob.client.delete(
        f"/api/articles/{fresh_article.slug}/subscription", headers=bob.headers()
    )
    assert left.status_code == 200
    reply_id = await posted(author, fresh_article, f"@{bob.username} @{suspended.username}")
    assert await notices(reply_id) == {}
    # A suspended member is still named and linked; they are just not told.
    assert f'href="/u/{suspended.username}"' in (await Reply.get(id=reply_id)).html
    await suspended.client.aclose()


async def test_the_private_feed_says_who_mentioned_the_reader(
    server: LiveServer, fresh_article: Article, cast: dict[str, Member]
) -> None:
    author, bob = cast["author"], cast["bob"]
    await posted(author, fresh_article, f"Over to you, @{bob.username}.")
    renew = await bob.client.post("/notifications/feed", data={"csrf_token": bob.csrf})
    assert renew.status_code in (200, 303)
    token = (await User.get(username=bob.username)).feed_token
    feed = await bob.client.get(f"/feeds/{token}/replies.atom")
    assert feed.status_code == 200
    [entry] = atom_entries(feed.content)
    assert entry["title"] == f"{author.username} mentioned you in “{fresh_article.title}”"
    content = BeautifulSoup(entry["content"], "html.parser")
    assert content.find("a", href=f"{server.url}/u/{bob.username}") is not None


# Mail ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mailing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MailForum, Mailbox]]:
    """A forum that mails at once, and the SMTP server it mails through."""
    with running_mailbox() as mailbox:
        folder = tmp_path_factory.mktemp("mentions-mail")
        with mail_forum(folder, mailbox, MAIL_COALESCE_SECONDS="0") as forum:
            yield forum, mailbox


async def test_a_mention_is_mailed_to_a_verified_address_saying_why(
    mailing: tuple[MailForum, Mailbox],
) -> None:
    forum, mailbox = mailing
    async with forum.database():
        article = await new_thread()
        async with (
            signed_up(forum.server, 2) as (author, verified),
            signed_up(forum.server, 1, verified=False) as (unverified,),
        ):
            reply_id = await posted(
                author, article, f"@{verified.username} and @{unverified.username}: thoughts?"
            )

            async def sent() -> bool:
                return await OutboxItem.exists(reply_id=reply_id, status=MailStatus.SENT)

            await until(sent, "the mention's mail to go")
            items = await OutboxItem.filter(reply_id=reply_id).select_related("recipient")
            assert [item.recipient.username for item in items] == [verified.username]
            kinds = await Notification.filter(reply_id=reply_id).values_list("kind", flat=True)
            assert sorted(kinds) == [NotificationKind.MENTION] * 2
    [delivery] = mailbox.deliveries(address(verified))
    message = delivery.message
    assert message["Subject"] == f"{author.username} mentioned you in “{article.title}”"
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()  # type: ignore[attr-defined]
    assert f"{author.username} mentioned you:" in text
    assert f"You get this email because you were mentioned (@{verified.username})." in text
    # Read away from the site, the mention links to the member's page all the same.
    rich = message.get_body(("html",))
    assert rich is not None
    page = BeautifulSoup(rich.get_content(), "html.parser")  # type: ignore[attr-defined]
    assert page.find("a", href=f"{forum.url}/u/{verified.username}") is not None
    assert not mailbox.deliveries(address(unverified))


# Suggestions -----------------------------------------------------------------------------------


async def suggest(member: Member, prefix: str | None) -> httpx.Response:
    params = {} if prefix is None else {"prefix": prefix}
    return await member.client.get("/api/users", params=params)


async def test_suggestions_are_members_starting_with_the_prefix_at_most_ten(
    server: LiveServer, db: None
) -> None:
    stem = f"sg{datetime.now(UTC).strftime('%H%M%S%f')}"
    asker = await enrol(server, stem + "_me")
    made = [await enrol(server, f"{stem}{letter}") for letter in "abcdefghijkl"]
    suspended = await enrol(server, stem + "s", suspended=True)
    gone = made[1]
    await User.filter(username=gone.username).update(deleted_at=datetime.now(UTC))
    try:
        answer = await suggest(asker, stem.upper())
        assert answer.status_code == 200, answer.text
        names = answer.json()["usernames"]
        expected = sorted((m.username for m in made if m is not gone), key=str.lower)[:10]
        assert names == expected
        assert asker.username not in names and suspended.username not in names
        one = await suggest(asker, made[0].username.upper())
        assert one.json() == {"usernames": [made[0].username]}
        # "_" is a letter of names here, not a wildcard.
        assert (await suggest(asker, stem[:-1] + "_")).json() == {"usernames": []}
    finally:
        for member in [asker, suspended, *made]:
            await member.client.aclose()


async def test_suggestions_want_a_valid_prefix_and_a_member(server: LiveServer, db: None) -> None:
    asker = await enrol(server, "asker")
    try:
        for prefix, message in [
            (None, "prefix is required."),
            ("", "prefix is required."),
            ("a b", "prefix must be the start of a username: letters, digits, _ and -."),
            ("<script>", "prefix must be the start of a username: letters, digits, _ and -."),
            ("x" * 31, "prefix must be at most 30 characters (it has 31)."),
        ]:
            answer = await suggest(asker, prefix)
            assert answer.status_code == 422, (prefix, answer.text)
            assert answer.json() == {"errors": {"prefix": message}}
        async with httpx.AsyncClient(base_url=server.url) as stranger:
            refused = await stranger.get("/api/users", params={"prefix": "ab"})
        assert refused.status_code == 401
    finally:
        await asker.client.aclose()


async def test_suggestions_are_rate_limited_per_member(
    server: LiveServer, db: None, database_url: str, tmp_path: Path
) -> None:
    process, limited = start_server(
        database_url, tmp_path, RATE_LIMITS="on", RATE_LIMIT_NAME_SUGGESTIONS="3/hour"
    )
    try:
        asker = await enrol(limited, "asker")
        for _ in range(3):
            assert (await suggest(asker, "as")).status_code == 200
        refused = await suggest(asker, "as")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        [message] = refused.json()["errors"].values()
        assert message.startswith("Too many name lookups. Try again in ")
        # Another member's lookups are their own.
        other = await enrol(limited, "other")
        assert (await suggest(other, "as")).status_code == 200
        await asker.client.aclose()
        await other.client.aclose()
    finally:
        stop_server(process)
