"""RFC 8058 one-click unsubscribe, with the URLs from real emails: the List-Unsubscribe header
(leave this thread) and the mail's "stop all email" link; why each mail was sent."""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bs4 import BeautifulSoup
from itsdangerous import URLSafeSerializer

from models import Article, Notification, OutboxItem, Subscription, User
from tests.conftest import Member
from tests.mailbox import (
    Mailbox,
    MailForum,
    address,
    follow,
    mail_forum,
    new_thread,
    posted,
    running_mailbox,
    signed_up,
    until,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
LEAVE, STOP_ALL = "Leave this thread", "Stop all email from the forum"
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """The SMTP server of this module."""
    with running_mailbox() as mailbox:
        yield mailbox


@pytest.fixture(scope="module")
def forum(mailbox: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailForum]:
    """A forum that mails at once."""
    folder = tmp_path_factory.mktemp("unsubscribe")
    with mail_forum(folder, mailbox, MAIL_COALESCE_SECONDS="0") as forum:
        yield forum


@pytest_asyncio.fixture
async def forum_db(forum: MailForum) -> AsyncIterator[None]:
    """The ORM on the forum's database, for this test."""
    async with forum.database():
        yield


async def stranger(method: str, url: str, **body: Any) -> httpx.Response:
    """A request as a mail provider makes it: no cookies, no redirects followed."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, url, **body)
    assert "cookie" not in response.request.headers
    return response


async def unsubscribe_url(mailbox: Mailbox, member: Member, forum: MailForum, slug: str) -> str:
    """Have someone reply in the thread; the List-Unsubscribe URL of the mail member gets."""
    before = len(mailbox.to(address(member)))
    async with signed_up(forum.server, 1) as (someone,):
        await posted(someone, slug, "Something to be mailed about.")
    await until(lambda: len(mailbox.to(address(member))) > before, "the notification email")
    header = mailbox.to(address(member))[-1]["List-Unsubscribe"]
    match = re.fullmatch(r"<(https?://[^<>\s]+)>", header)
    assert match is not None, header
    return match[1]


async def is_following(member: Member, article: Article) -> bool:
    """Whether the member's subscription to the thread is active."""
    return await Subscription.exists(
        user__username=member.username, article_id=article.id, active=True
    )


async def test_one_click_post_unsubscribes_without_cookies_and_later_replies_send_nothing(
    forum: MailForum, forum_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(forum.server, 2) as (reader, answerer):
        await follow(reader, article.slug)
        own = await posted(reader, article.slug, "My point, before I leave.")
        url = await unsubscribe_url(mailbox, reader, forum, article.slug)

        first = await stranger("POST", url, files={"List-Unsubscribe": (None, "One-Click")})
        assert first.status_code == 200, first.text
        assert "location" not in first.headers
        assert first.request.headers["content-type"].startswith("multipart/form-data")
        assert not await is_following(reader, article)
        again = await stranger("POST", url, data=ONE_CLICK)
        assert again.status_code == 200, again.text
        assert again.request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert not await is_following(reader, article)

        # Neither a new reply in the thread nor an answer to their own reply reaches them.
        later = await posted(answerer, article.slug, "After they left.")
        answer = await posted(answerer, article.slug, "An answer to you.", parent_id=own)
    for reply_id in (later, answer):
        assert not await OutboxItem.exists(reply_id=reply_id, recipient__username=reader.username)
        assert not await Notification.exists(reply_id=reply_id, user__username=reader.username)


async def test_get_asks_and_changes_nothing(
    forum: MailForum, forum_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(forum.server, 1) as (reader,):
        await follow(reader, article.slug)
        url = await unsubscribe_url(mailbox, reader, forum, article.slug)

        page = await stranger("GET", url)
        assert page.status_code == 200
        form = BeautifulSoup(page.text, "html.parser").select_one("form[method=post]")
        assert form is not None
        assert await is_following(reader, article)


def flipped(token: str) -> list[str]:
    """The token with one character changed, every way that keeps it base64url-like.

    Flipping the low bits of a character matters most: in the last character of a signature
    they are padding, which a lax decoder ignores.
    """
    variants = []
    for position, char in enumerate(token):
        if char not in BASE64URL:
            continue
        index = BASE64URL.index(char)
        for bits in (1, 2, 3):
            variant = BASE64URL[index ^ bits]
            variants.append(token[:position] + variant + token[position + 1 :])
    return variants


def forged(token: str, user_ids: list[int], article_id: int) -> list[str]:
    """Tokens naming other users: the real signature on another payload, and signatures made
    with guessed secrets."""
    signature = token.rsplit(".", 1)[1]
    tokens = []
    for user_id in user_ids:
        payload = json.dumps([user_id, article_id], separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        tokens.append(f"{encoded}.{signature}")
        for secret in ("", "secret", "test-secret"):
            serializer = URLSafeSerializer(secret, salt="forum-unsubscribe")
            tokens.append(str(serializer.dumps([user_id, article_id])))
    return tokens


async def test_tampered_and_forged_tokens_unsubscribe_no_one(
    forum: MailForum, forum_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(forum.server, 3) as readers:
        for reader in readers:
            await follow(reader, article.slug)
        url = await unsubscribe_url(mailbox, readers[0], forum, article.slug)
        base, token = url.rsplit("/", 1)
        others = [
            user.id for user in await User.filter(username__in=[r.username for r in readers[1:]])
        ]
        tampered = flipped(token) + forged(token, others, article.id)
        assert len(tampered) >= 100

        for bad in tampered:
            response = await stranger("POST", f"{base}/{bad}", data=ONE_CLICK)
            assert response.status_code in (400, 404), (bad, response.status_code)
        for reader in readers:
            assert await is_following(reader, article), reader.username


# Why a mail came, and its two one-click links -----------------------------------------------------


def both_parts(message: EmailMessage) -> tuple[str, BeautifulSoup]:
    """The plain text part, and the HTML part parsed."""
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    text = plain.get_content().replace("\r\n", "\n")
    return text, BeautifulSoup(rich.get_content(), "html.parser")


def links_of(message: EmailMessage) -> dict[str, str]:
    """The mail's "leave" and "stop all" URLs, the same in both parts."""
    plain, rich = both_parts(message)
    found = {}
    for label in (LEAVE, STOP_ALL):
        match = re.search(rf"^{label}: (\S+)$", plain, re.MULTILINE)
        assert match is not None, (label, plain)
        anchor = rich.find("a", string=label)
        assert anchor is not None, label
        assert anchor["href"] == match[1]
        found[label] = match[1]
    return found


async def mailed_links(
    mailbox: Mailbox, reader: Member, answerer: Member, slug: str
) -> dict[str, str]:
    """reader follows the thread and answerer posts in it: the links of the mail reader gets."""
    await follow(reader, slug)
    await posted(answerer, slug, "Something to be mailed about.")
    return links_of(await latest_mail(mailbox, reader, 0))


def says_why(message: EmailMessage, reason: str) -> None:
    """Both parts say why the mail was sent."""
    plain, rich = both_parts(message)
    sentence = f"You get this email because {reason}."
    assert sentence in plain
    assert sentence in rich.get_text()


async def latest_mail(mailbox: Mailbox, member: Member, before: int) -> EmailMessage:
    """The member's next notification mail after the first `before`."""
    await until(lambda: len(mailbox.to(address(member))) > before, "the notification email")
    return mailbox.to(address(member))[-1]


async def test_each_mail_says_why_and_links_to_leaving_and_to_stopping_all_mail(
    forum: MailForum, forum_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(forum.server, 3) as (follower, author, answerer):
        await follow(follower, article.slug)
        own = await posted(author, article.slug, "A reply someone will answer.")
        followed = await latest_mail(mailbox, follower, 0)
        says_why(followed, "you follow this thread")

        await posted(answerer, article.slug, "An answer to you.", parent_id=own)
        answered = await latest_mail(mailbox, author, 0)
        says_why(answered, "someone replied to you")

    for message in (followed, answered):
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        links = links_of(message)
        # The header's one-click URL is the mail's "leave this thread" link.
        assert message["List-Unsubscribe"] == f"<{links[LEAVE]}>"
        assert links[LEAVE] != links[STOP_ALL]
        for url in links.values():
            assert url.startswith(f"{forum.url}/unsubscribe/")


async def email_on(member: Member) -> bool:
    """Whether the member gets notification mail at all."""
    return (await User.get(username=member.username)).email_notifications


async def test_stop_all_email_in_one_click_turns_mail_off_for_every_thread(
    forum: MailForum, forum_db: None, mailbox: Mailbox
) -> None:
    article, other = await new_thread(), await new_thread()
    async with signed_up(forum.server, 2) as (reader, answerer):
        await follow(reader, other.slug)
        stop_all = (await mailed_links(mailbox, reader, answerer, article.slug))[STOP_ALL]

        asked = await stranger("GET", stop_all)
        assert asked.status_code == 200
        assert await email_on(reader)
        done = await stranger("POST", stop_all, data=ONE_CLICK)
        assert done.status_code == 200, done.text
        assert not await email_on(reader)
        # Stopping mail is not leaving: the threads are still followed, the bell still rings.
        assert await is_following(reader, article) and await is_following(reader, other)

        sent = len(mailbox.to(address(reader)))
        later = await posted(answerer, other.slug, "After they stopped all mail.")
        assert await Notification.exists(reply_id=later, user__username=reader.username)
        assert not await OutboxItem.exists(reply_id=later, recipient__username=reader.username)
        assert len(mailbox.to(address(reader))) == sent


async def test_a_leave_link_does_not_stop_all_mail_nor_the_other_way_round(
    forum: MailForum, forum_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(forum.server, 2) as (reader, answerer):
        links = await mailed_links(mailbox, reader, answerer, article.slug)
        leave_token = links[LEAVE].rsplit("/", 1)[1]
        stop_token = links[STOP_ALL].rsplit("/", 1)[1]
        # The payload of one under the signature of the other names nothing.
        for payload, signature in ((leave_token, stop_token), (stop_token, leave_token)):
            crossed = f"{payload.rsplit('.', 1)[0]}.{signature.rsplit('.', 1)[1]}"
            response = await stranger("POST", f"{forum.url}/unsubscribe/{crossed}", data=ONE_CLICK)
            assert response.status_code == 400

        assert (await stranger("POST", links[LEAVE], data=ONE_CLICK)).status_code == 200
        assert not await is_following(reader, article)
        assert await email_on(reader)


def assert_a_page_of_the_site(html: str, back: str) -> BeautifulSoup:
    """The page has the site's header and stylesheet, an h1, and a link back."""
    page = BeautifulSoup(html, "html.parser")
    assert page.select_one("header.site-header a.site-name") is not None
    assert page.select_one('link[rel=stylesheet][href*="forum"]') is not None
    assert page.select_one("main h1") is not None
    assert page.select_one(f'main a[href="{back}"]') is not None, back
    return page


async def test_the_pages_are_styled_pages_of_the_site_with_a_way_back(
    forum: MailForum, forum_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(forum.server, 2) as (reader, answerer):
        links = await mailed_links(mailbox, reader, answerer, article.slug)

    for label, back in ((LEAVE, f"/a/{article.slug}"), (STOP_ALL, "/")):
        asked = assert_a_page_of_the_site((await stranger("GET", links[label])).text, back)
        button = asked.select_one("main form[method=post] button[type=submit]")
        assert button is not None, label
        done = await stranger("POST", links[label], data=ONE_CLICK)
        page = assert_a_page_of_the_site(done.text, back)
        assert page.select_one("main [role=status]") is not None, label
        assert page.select_one("main form[method=post]") is None

    bad = await stranger("GET", f"{forum.url}/unsubscribe/not-a-token")
    assert bad.status_code == 400
    assert_a_page_of_the_site(bad.text, "/")
