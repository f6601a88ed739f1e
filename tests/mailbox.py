"""A real SMTP server for the mail tests (aiosmtpd, on a free port in a thread of the test
process), forums of their own that mail through it, and members with email addresses."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import cast

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from tortoise.context import TortoiseContext

from forum.db import tortoise_config
from models import Article, Role, User
from tests.conftest import (
    PASSWORD,
    PROJECT_ROOT,
    LiveServer,
    Member,
    scratch_database,
    start_server,
    stop_server,
    unique_name,
)

ACCEPTED = "250 2.0.0 Message accepted for delivery"
#: MAIL_FROM of every mail forum.
SENDER = "Forum notices <notices@forum.test>"


@dataclass(frozen=True)
class Delivery:
    """A message the SMTP server accepted: its envelope, its bytes, and the parsed message."""

    recipients: tuple[str, ...]
    raw: bytes
    message: EmailMessage


def is_account_mail(raw: bytes) -> bool:
    """Whether a message is account mail (verification, reset, sign-in link), not a notice."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return b"\nX-Forum-Mail: account" in b"\n" + head.replace(b"\r\n", b"\n")


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts. Told to, it answers a recipient's next
    messages with an SMTP error, or takes its time over every message.

    Notification mail and account mail are kept apart: `to`, `deliveries` and `attempts` count
    notifications only (every member of these tests registers with an address, which sends a
    verification mail), `account_mail` the rest."""

    def __init__(self) -> None:
        self.url = ""
        #: Seconds spent on each message before accepting it; if the client goes away meanwhile,
        #: aiosmtpd cancels the handler and the message is not accepted (as with a real server).
        self.delay = 0.0
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._account: list[Delivery] = []
        self._attempts: list[tuple[str, ...]] = []
        self._answers: dict[str, list[str]] = {}
        self._account_answers: dict[str, list[str]] = {}
        self.account_attempts = 0

    def answer(self, recipient: str, *replies: str) -> None:
        """Answer the recipient's next messages with these replies ("451 ...", "550 ...")."""
        with self._lock:
            self._answers.setdefault(recipient, []).extend(replies)

    def answer_account_mail(self, recipient: str, *replies: str) -> None:
        """Answer the recipient's next account mails with these replies."""
        with self._lock:
            self._account_answers.setdefault(recipient, []).extend(replies)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the attempt; refuse it if told to, else accept and keep the message."""
        recipients = tuple(envelope.rcpt_tos)
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        if is_account_mail(raw):
            message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))
            with self._lock:
                self.account_attempts += 1
                queued = self._account_answers.get(recipients[0], [])
                if queued:
                    return queued.pop(0)
                self._account.append(Delivery(recipients, raw, message))
            return ACCEPTED
        with self._lock:
            self._attempts.append(recipients)
            queued = self._answers.get(recipients[0], [])
            refusal = queued.pop(0) if queued else None
        if refusal is not None:
            return refusal
        await asyncio.sleep(self.delay)
        message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))
        with self._lock:
            self._deliveries.append(Delivery(recipients, raw, message))
        return ACCEPTED

    def to(self, address: str) -> list[EmailMessage]:
        """The messages accepted for this address."""
        with self._lock:
            return [d.message for d in self._deliveries if address in d.recipients]

    def account_mail(self, address: str) -> list[EmailMessage]:
        """The account mails accepted for this address, oldest first."""
        with self._lock:
            return [d.message for d in self._account if address in d.recipients]

    def deliveries(self, address: str | None = None) -> list[Delivery]:
        """The accepted messages (for this address) so far."""
        with self._lock:
            return [d for d in self._deliveries if address is None or address in d.recipients]

    def attempts(self, address: str | None = None) -> int:
        """How many messages (to this address) reached DATA, accepted or not."""
        with self._lock:
            return sum(1 for rcpt in self._attempts if address is None or address in rcpt)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_mailbox() -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 for the duration of the block."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{controller.port}"
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass(frozen=True)
class MailForum:
    """A forum of its own, on its own database, mailing through a Mailbox."""

    server: LiveServer
    database_url: str
    folder: Path

    @property
    def url(self) -> str:
        """The forum's base URL (also its BASE_URL)."""
        return self.server.url

    @contextlib.asynccontextmanager
    async def database(self) -> AsyncIterator[None]:
        """ORM access to this forum's database inside the block (not the session's)."""
        async with TortoiseContext() as context:
            await context.init(config=tortoise_config(self.database_url))
            yield

    def start_mailer(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """`python -m forum mailer` against this forum's database, logging to name.log."""
        with (self.folder / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "forum", "mailer"],
                cwd=PROJECT_ROOT,
                env={**self.server.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self, name: str) -> str:
        """What a mailer started here has written."""
        return (self.folder / f"{name}.log").read_text()


@contextlib.contextmanager
def mail_forum(folder: Path, mailbox: Mailbox, **env: str) -> Iterator[MailForum]:
    """Start a forum that mails through mailbox (SMTP_URL, MAIL_FROM=SENDER, and env)."""
    with scratch_database(folder) as database_url:
        process, live = start_server(
            database_url, folder, SMTP_URL=mailbox.url, MAIL_FROM=SENDER, **env
        )
        try:
            yield MailForum(live, database_url, folder)
        finally:
            stop_server(process)


def address(member: Member) -> str:
    """The email address members of the mail tests register with."""
    return f"{member.username}@example.org"


async def mark_verified(server: LiveServer, username: str) -> None:
    """Mark a member's address verified in the server's database, as opening the mailed link
    would (tests of the link itself are in test_account_mail.py)."""
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(server.env["DATABASE_URL"]))
        await User.filter(username_key=username.lower()).update(email_verified_at=datetime.now(UTC))


async def sign_up_with_email(server: LiveServer, verified: bool = True) -> Member:
    """Register with an email address (see address()), verified unless told otherwise, and
    sign in through the API."""
    username = unique_name()
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    account = {"username": username, "password": PASSWORD, "email": f"{username}@example.org"}
    created = await client.post("/api/accounts", json=account)
    assert created.status_code == 201, created.text
    if verified:
        await mark_verified(server, username)
    session = await client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert session.status_code == 200, session.text
    return Member(username, client, session.json()["csrf_token"])


@contextlib.asynccontextmanager
async def signed_up(
    server: LiveServer, count: int, verified: bool = True
) -> AsyncIterator[list[Member]]:
    """Members with email addresses (verified unless told otherwise), their clients closed at
    the end."""
    members = list(
        await asyncio.gather(*(sign_up_with_email(server, verified) for _ in range(count)))
    )
    try:
        yield members
    finally:
        for member in members:
            await member.client.aclose()


async def promote(member: Member) -> None:
    """Make the member a moderator, through the ORM (inside MailForum.database())."""
    await User.filter(username=member.username).update(role=Role.MODERATOR)


async def new_thread(title: str = "") -> Article:
    """An article with an empty discussion (inside MailForum.database())."""
    slug = unique_name("thread").replace("_", "-")
    return await Article.create(
        slug=slug,
        title=title or f"Thread {slug}",
        body_markdown="Text.\n",
        body_html="<p>Text.</p>\n",
    )


async def follow(member: Member, slug: str) -> None:
    """Follow a thread through the API."""
    response = await member.client.post(
        f"/api/articles/{slug}/subscription", headers=member.headers()
    )
    assert response.status_code == 200, response.text


async def posted(member: Member, slug: str, body: str, parent_id: int | None = None) -> int:
    """Post a reply through the API; its id."""
    response = await member.post_reply(body, parent_id, slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = 15.0
) -> None:
    """Wait until condition holds (polling), or fail saying what did not happen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        outcome = condition()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return
        if loop.time() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)
