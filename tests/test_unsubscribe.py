"""RFC 8058 one-click unsubscribe, with the URL from a real email's List-Unsubscribe header."""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import AsyncIterator, Iterator
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
