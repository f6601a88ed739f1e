"""The mail sender as its own process (`python -m forum mailer`): killed mid-batch and restarted,
or two at once, every message still arrives exactly once."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from models import MailStatus, OutboxItem
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

#: MAIL_CLAIM_SECONDS of the mailers here: how soon a dead mailer's messages are taken over.
CLAIM_SECONDS = "0.5"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """The SMTP server of this module."""
    with running_mailbox() as mailbox:
        yield mailbox


@pytest.fixture(scope="module")
def detached(mailbox: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailForum]:
    """A forum that leaves sending to separate mailer processes (MAIL_SENDER=off)."""
    folder = tmp_path_factory.mktemp("detached")
    with mail_forum(folder, mailbox, MAIL_SENDER="off", MAIL_COALESCE_SECONDS="0") as forum:
        yield forum


@pytest_asyncio.fixture
async def detached_db(detached: MailForum) -> AsyncIterator[None]:
    """The ORM on the detached forum's database, for this test."""
    async with detached.database():
        yield


def stop(mailer: subprocess.Popen[bytes]) -> None:
    """Stop a mailer that is still running."""
    if mailer.poll() is None:
        mailer.send_signal(signal.SIGINT)
        try:
            mailer.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mailer.kill()
            mailer.wait()


async def all_sent(reply_id: int) -> dict[str, str]:
    """Wait until every mail about the reply is sent; each recipient's Message-ID by username."""

    async def done() -> bool:
        statuses = await OutboxItem.filter(reply_id=reply_id).values_list("status", flat=True)
        return bool(statuses) and all(status == MailStatus.SENT for status in statuses)

    await until(done, f"every mail about reply {reply_id} to be sent", within=30)
    items = await OutboxItem.filter(reply_id=reply_id).select_related("recipient")
    return {item.recipient.username: item.message_id for item in items}


async def test_a_mailer_killed_mid_batch_and_restarted_sends_each_message_once(
    detached: MailForum, detached_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(detached.server, 6) as (author, *followers):
        for follower in followers:
            await follow(follower, article.slug)
        reply_id = await posted(author, article.slug, "One reply, five messages.")
    addresses = [address(follower) for follower in followers]

    def accepted() -> int:
        return sum(len(mailbox.to(to)) for to in addresses)

    def busy_after_two() -> bool:
        done = accepted()
        return done >= 2 and sum(mailbox.attempts(to) for to in addresses) == done + 1

    mailbox.delay = 0.3
    first = detached.start_mailer("killed", MAIL_CLAIM_SECONDS=CLAIM_SECONDS)
    try:
        await until(busy_after_two, "the mailer to be sending a third message")
        first.kill()
        first.wait()
        assert accepted() < len(followers)
        second = detached.start_mailer("restarted", MAIL_CLAIM_SECONDS=CLAIM_SECONDS)
        try:
            message_ids = await all_sent(reply_id)
        finally:
            stop(second)
    finally:
        stop(first)
        mailbox.delay = 0.0

    received = Counter(
        (to, delivery.message["Message-ID"])
        for delivery in mailbox.deliveries()
        for to in delivery.recipients
        if to in addresses
    )
    assert set(received) == {(address(f), message_ids[f.username]) for f in followers}
    assert set(received.values()) == {1}
    # The message the kill interrupted had not been accepted: it was sent again, once.
    assert sum(mailbox.attempts(to) for to in addresses) == len(followers) + 1


async def test_two_mailers_at_once_never_send_the_same_message(
    detached: MailForum, detached_db: None, mailbox: Mailbox
) -> None:
    article = await new_thread()
    async with signed_up(detached.server, 2) as (author, follower):
        await follow(follower, article.slug)
        reply_id = await posted(author, article.slug, "Slow to deliver.")
    # The message takes three times as long as a claim lasts: a mailer must keep its claim while
    # it sends, or the other one (which looks again when a claim would lapse) sends it too.
    mailbox.delay = 1.5
    mailers = [
        detached.start_mailer(f"side-by-side-{n}", MAIL_CLAIM_SECONDS=CLAIM_SECONDS)
        for n in range(2)
    ]
    try:
        message_ids = await all_sent(reply_id)
    finally:
        for mailer in mailers:
            stop(mailer)
        mailbox.delay = 0.0
    [message] = mailbox.to(address(follower))
    assert message["Message-ID"] == message_ids[follower.username]
    assert mailbox.attempts(address(follower)) == 1
