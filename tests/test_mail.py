"""Notification emails through a real SMTP server: what a message holds, coalescing, moderation
before sending, retries, header injection, and suspended readers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio
from bs4 import BeautifulSoup

from forum.notifications.mail import Letter, SmtpTransport, build_message
from forum.settings import load_settings
from models import MailStatus, Notification, OutboxItem, Reply
from tests.conftest import PASSWORD, unique_name
from tests.mailbox import (
    SENDER,
    Mailbox,
    MailForum,
    address,
    follow,
    mail_forum,
    new_thread,
    posted,
    promote,
    running_mailbox,
    signed_up,
    until,
)

#: MAIL_COALESCE_SECONDS of the windowed forum: long enough to post a burst, or hide a reply.
WINDOW = 2


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """The SMTP server the forums of this module mail through."""
    with running_mailbox() as mailbox:
        yield mailbox


@pytest.fixture(scope="module")
def instant(mailbox: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailForum]:
    """A forum that mails at once and retries a temporary failure after 0.2 s."""
    folder = tmp_path_factory.mktemp("instant")
    with mail_forum(folder, mailbox, MAIL_COALESCE_SECONDS="0", MAIL_RETRY_SECONDS="0.2") as forum:
        yield forum


@pytest.fixture(scope="module")
def windowed(mailbox: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailForum]:
    """A forum that gathers a thread's replies for WINDOW seconds into one email."""
    folder = tmp_path_factory.mktemp("windowed")
    with mail_forum(folder, mailbox, MAIL_COALESCE_SECONDS=str(WINDOW)) as forum:
        yield forum


@pytest_asyncio.fixture
async def instant_db(instant: MailForum) -> AsyncIterator[None]:
    """The ORM on the instant forum's database, for this test."""
    async with instant.database():
        yield


@pytest_asyncio.fixture
async def windowed_db(windowed: MailForum) -> AsyncIterator[None]:
    """The ORM on the windowed forum's database, for this test."""
    async with windowed.database():
        yield


async def settled(reply_id: int) -> dict[str, MailStatus]:
    """Wait until no mail about the reply is pending; each recipient's outcome by username."""

    async def done() -> bool:
        return not await OutboxItem.exists(reply_id=reply_id, status=MailStatus.PENDING)

    await until(done, f"the mail about reply {reply_id} to be sent or given up")
    items = await OutboxItem.filter(reply_id=reply_id).select_related("recipient")
    return {item.recipient.username: item.status for item in items}


def parts(message: EmailMessage) -> tuple[str, BeautifulSoup]:
    """The plain text part, and the HTML part parsed."""
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    return plain.get_content(), BeautifulSoup(rich.get_content(), "html.parser")


# What one message holds -------------------------------------------------------------------------


async def test_a_reply_mails_the_follower_once_with_headers_and_both_parts(
    instant: MailForum, instant_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(instant.server, 2) as (author, follower):
        await follow(follower, article.slug)
        text = "Agreed, **mostly**. <script>alert('x')</script>"
        reply_id = await posted(author, article.slug, text)

        assert await settled(reply_id) == {follower.username: MailStatus.SENT}
    [delivery] = mailbox.deliveries(address(follower))
    message = delivery.message
    [item] = await OutboxItem.filter(reply_id=reply_id)
    assert delivery.recipients == (address(follower),)
    assert message["From"] == SENDER
    assert message["To"] == address(follower)
    assert message["Subject"] == f"{author.username} replied in “{article.title}”"
    assert message["Message-ID"] == item.message_id
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", item.message_id)
    unsubscribe = re.fullmatch(r"<(https?://[^<>\s]+)>", message["List-Unsubscribe"])
    assert unsubscribe is not None
    assert re.fullmatch(re.escape(instant.url) + r"/unsubscribe/[\w.-]+", unsubscribe[1])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # On the wire as it is: not folded, not made =?utf-8?q?...?= words (which hide the URL).
    assert f"\r\nList-Unsubscribe: {unsubscribe[0]}\r\n".encode() in delivery.raw
    assert message.get_content_type() == "multipart/alternative"

    permalink = f"{instant.url}/a/{article.slug}/r/{reply_id}#reply-{reply_id}"
    plain, rich = parts(message)
    assert author.username in plain
    assert text in plain
    assert permalink in plain
    assert rich.find("strong", string=author.username) is not None
    assert rich.find("strong", string="mostly") is not None
    assert rich.find("script") is None
    assert rich.find("a", href=permalink) is not None


async def test_a_long_unsubscribe_url_goes_out_as_a_url(
    instant: MailForum, instant_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(instant.server, 1) as (author,):
        reply_id = await posted(author, article.slug, "Mailed from a site with a long name.")
    reply = await Reply.get(id=reply_id).select_related("author", "article")
    base = "https://discussion.a-newspaper-with-a-long-name.example.org"
    unsubscribe = f"{base}/unsubscribe/{'W' * 40}.{'s' * 27}"
    letter = Letter(reply.author, reply.article, [reply], "<long@forum.test>", unsubscribe)

    await SmtpTransport(mailbox.url).send(build_message(letter, sender=SENDER, base_url=base))
    [delivery] = mailbox.deliveries(address(author))
    assert f"\r\nList-Unsubscribe: <{unsubscribe}>\r\n".encode() in delivery.raw


async def test_replies_to_ones_reply_are_mailed_but_not_ones_own(
    instant: MailForum, instant_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(instant.server, 2) as (author, answerer):
        await follow(author, article.slug)
        top = await posted(author, article.slug, "My own reply, in a thread I follow.")
        answer = await posted(answerer, article.slug, "An answer to you.", parent_id=top)

        assert await settled(answer) == {author.username: MailStatus.SENT}
        assert not await OutboxItem.exists(reply_id=top)
    [message] = mailbox.to(address(author))
    assert "An answer to you." in parts(message)[0]
    assert mailbox.to(address(answerer)) == []


# Coalescing and moderation before sending --------------------------------------------------------


async def test_a_burst_of_replies_makes_one_email(
    windowed: MailForum, windowed_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(windowed.server, 2) as (author, follower):
        await follow(follower, article.slug)
        texts = [f"Burst reply {n} {unique_name('marker')}" for n in range(3)]
        ids = [await posted(author, article.slug, text) for text in texts]

        for reply_id in ids:
            assert await settled(reply_id) == {follower.username: MailStatus.SENT}
    [message] = mailbox.to(address(follower))
    assert message["Subject"] == f"3 new replies in “{article.title}”"
    plain, rich = parts(message)
    for reply_id, text in zip(ids, texts, strict=True):
        permalink = f"{windowed.url}/a/{article.slug}/r/{reply_id}#reply-{reply_id}"
        assert text in plain and permalink in plain
        assert rich.find("a", href=permalink) is not None
    assert {item.message_id for item in await OutboxItem.filter(reply_id__in=ids)} == {
        message["Message-ID"]
    }


async def test_a_reply_hidden_before_its_mail_goes_is_not_mailed_nor_belled(
    windowed: MailForum, windowed_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(windowed.server, 3) as (author, follower, moderator):
        await promote(moderator)
        await follow(follower, article.slug)
        kept = await posted(author, article.slug, "This one stays.")
        marker = unique_name("hidden")
        hidden = await posted(author, article.slug, f"Buy pills {marker}")
        hide = await moderator.client.post(
            f"/api/replies/{hidden}/hide", json={"reason": "spam"}, headers=moderator.headers()
        )
        assert hide.status_code == 200, hide.text

        bell = (await follower.client.get("/api/notifications")).json()
        assert bell["unread"] == 1
        assert [item["reply_id"] for item in bell["items"]] == [kept]
        assert await settled(hidden) == {follower.username: MailStatus.CANCELLED}
        assert await settled(kept) == {follower.username: MailStatus.SENT}
    [message] = mailbox.to(address(follower))
    plain, rich = parts(message)
    assert "This one stays." in plain
    assert marker not in plain and marker not in rich.get_text()


# Failures -----------------------------------------------------------------------------------------


async def test_a_temporary_failure_is_retried_once(
    instant: MailForum, instant_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(instant.server, 2) as (author, follower):
        mailbox.answer(address(follower), "451 4.3.0 Mailbox busy, try again later")
        await follow(follower, article.slug)
        reply_id = await posted(author, article.slug, "Worth a second try.")

        assert await settled(reply_id) == {follower.username: MailStatus.SENT}
    assert mailbox.attempts(address(follower)) == 2
    assert len(mailbox.to(address(follower))) == 1
    [item] = await OutboxItem.filter(reply_id=reply_id)
    assert item.attempts == 2


async def test_a_permanent_failure_is_not_retried(
    instant: MailForum, instant_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(instant.server, 2) as (author, follower):
        mailbox.answer(address(follower), "550 5.1.1 No such mailbox")
        await follow(follower, article.slug)
        reply_id = await posted(author, article.slug, "This will bounce.")

        assert await settled(reply_id) == {follower.username: MailStatus.FAILED}
    assert mailbox.attempts(address(follower)) == 1
    assert mailbox.to(address(follower)) == []
    [item] = await OutboxItem.filter(reply_id=reply_id)
    assert item.attempts == 1
    assert item.last_error.startswith("550")


# Header injection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "evil\r\nBcc: victim@example.org"),
        ("username", "evil\nname"),
        ("username", "evil\rname"),
        ("email", "me@example.org\r\nBcc: victim@example.org"),
        ("email", "me@example.org\nX-Injected: yes"),
    ],
)
async def test_registration_refuses_line_breaks_in_what_goes_into_headers(
    instant: MailForum, field: str, value: str
) -> None:
    account = {"username": unique_name(), "password": PASSWORD, "email": "me@example.org"}
    async with httpx.AsyncClient(base_url=instant.url, timeout=10) as client:
        response = await client.post("/api/accounts", json={**account, field: value})
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"]


async def test_an_article_title_cannot_add_headers(
    instant: MailForum, instant_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread("Injected\r\nBcc: victim@example.org\r\nX-Injected: yes")
    async with signed_up(instant.server, 2) as (author, follower):
        await follow(follower, article.slug)
        reply_id = await posted(author, article.slug, "A reply under a strange title.")

        assert await settled(reply_id) == {follower.username: MailStatus.SENT}
    [delivery] = mailbox.deliveries(address(follower))
    assert delivery.recipients == (address(follower),)
    message = delivery.message
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert "Injected" in message["Subject"]


def test_a_mail_from_with_line_breaks_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY", "test")
    monkeypatch.setenv("MAIL_FROM", "forum <forum@example.org>\r\nBcc: victim@example.org")
    with pytest.raises(ValueError, match="MAIL_FROM"):
        load_settings(env_file=None)


async def test_no_notice_or_mail_while_suspended(
    instant: MailForum, instant_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(instant.server, 3) as (author, follower, moderator):
        await promote(moderator)
        await follow(follower, article.slug)
        suspend = await moderator.client.post(
            f"/api/users/{follower.username}/suspend",
            json={"reason": "cooling off"},
            headers=moderator.headers(),
        )
        assert suspend.status_code == 200, suspend.text
        reply_id = await posted(author, article.slug, "Said while they were away.")
    assert not await Notification.exists(reply_id=reply_id)
    assert not await OutboxItem.exists(reply_id=reply_id)
