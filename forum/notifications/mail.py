"""Building notification emails and delivering them: through SMTP with aiosmtplib, or, with no
SMTP configured, as files in a local folder so a newcomer can read what would have been sent."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from forum.accounts.letters import AccountLetter
from forum.urls import absolute_links, reply_permalink
from models import Article, NotificationKind, Reply, User

#: How messages are written: CRLF, bodies 7-bit clean (no server needs 8BITMIME), and header lines
#: of up to RFC 5322's 998 characters rather than 78, so that a header which cannot be folded,
#: List-Unsubscribe's long URL, goes out as it is: at 78 the email package sends it as
#: =?utf-8?q?...?= words, which mail providers do not read as a URL (no one-click unsubscribe).
MAIL_POLICY = SMTP.clone(max_line_length=998, cte_type="7bit")


class TemporaryFailure(Exception):
    """Worth trying again later (4xx, a dropped connection, a timeout)."""


class PermanentFailure(Exception):
    """Will not work by retrying (5xx)."""


class Transport(Protocol):
    """Delivers one message."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver message or raise TemporaryFailure / PermanentFailure."""


@dataclass(frozen=True)
class SmtpTransport:
    """Sends through an SMTP server given as smtp://[user:password@]host:port."""

    url: str
    timeout: float = 30.0

    async def send(self, message: EmailMessage) -> None:
        """Send, sorting SMTP errors into temporary and permanent ones."""
        parts = urlsplit(self.url)
        try:
            # As bytes: given the message, aiosmtplib would write it with its own 78-column policy.
            await aiosmtplib.send(
                message.as_bytes(policy=MAIL_POLICY),
                sender=message["From"].addresses[0].addr_spec,
                recipients=[address.addr_spec for address in message["To"].addresses],
                hostname=parts.hostname or "127.0.0.1",
                port=parts.port or 25,
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                use_tls=parts.scheme == "smtps",
                start_tls=None if parts.scheme == "smtp" else False,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [error.code for error in refused.recipients]
            raise _by_code(min(codes) if codes else 550, str(refused)) from refused
        except aiosmtplib.SMTPResponseException as error:
            raise _by_code(error.code, error.message) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TemporaryFailure(str(error) or type(error).__name__) from error


def _by_code(code: int, text: str) -> Exception:
    detail = f"{code} {text}"[:500]
    return TemporaryFailure(detail) if 400 <= code < 500 else PermanentFailure(detail)


@dataclass(frozen=True)
class FolderTransport:
    """Writes each message as an .eml file (the embedded default: var/mail/)."""

    folder: Path

    async def send(self, message: EmailMessage) -> None:
        """Write the message to a new file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{message['Message-ID'].strip('<>').split('@')[0]}.eml"
        (self.folder / name).write_bytes(bytes(message))


@dataclass(frozen=True)
class Letter:
    """What one notification email is about."""

    recipient: User
    article: Article
    replies: list[Reply]
    message_id: str
    #: One-click: leave this thread (the List-Unsubscribe URL).
    unsubscribe_url: str
    #: One-click: stop all notification mail.
    stop_mail_url: str = ""
    #: Why the recipient was notified of these replies: their notifications' kinds.
    reasons: frozenset[str] = frozenset({NotificationKind.THREAD.value})
    #: The replies among them that mention the recipient (their notification says so).
    mentioned: frozenset[int] = frozenset()


#: Why a mail was sent, by the kind of notification behind it ("mention": NotificationKind
#: gains it with mentions), in the order they are said; {name} is the recipient's username.
REASONS = {
    NotificationKind.THREAD.value: "you follow this thread",
    NotificationKind.REPLY.value: "someone replied to you",
    "mention": "you were mentioned (@{name})",
}


def why_sent(reasons: frozenset[str], username: str) -> str:
    """The sentence that tells the recipient why this mail came to them."""
    said = [text.format(name=username) for kind, text in REASONS.items() if kind in reasons]
    return (
        "You get this email because "
        + " and ".join(said or [REASONS[NotificationKind.THREAD.value]])
        + "."
    )


def new_message_id(domain: str) -> str:
    """A globally unique Message-ID, kept on the outbox items so a resend reuses it."""
    return make_msgid(idstring="forum", domain=domain)


def build_message(letter: Letter, *, sender: str, base_url: str) -> EmailMessage:
    """The email: plain text and HTML parts, RFC 8058 one-click unsubscribe headers.

    EmailMessage refuses CR/LF inside header values, so nothing from a reader can add headers;
    the title's line breaks (front matter may hold some) are made spaces so the mail still goes.
    """
    article, replies = letter.article, letter.replies
    title = " ".join(article.title.split())
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender
    message["To"] = letter.recipient.email or ""
    if len(replies) == 1 and replies[0].id in letter.mentioned:
        subject = f"{replies[0].author.username} mentioned you in “{title}”"
    elif len(replies) == 1:
        subject = f"{replies[0].author.username} replied in “{title}”"
    else:
        subject = f"{len(replies)} new replies in “{title}”"
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = letter.message_id
    message["List-Unsubscribe"] = f"<{letter.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"

    text_lines = [f"New in the discussion of “{article.title}”:", ""]
    html_parts = [f"<p>New in the discussion of <strong>{html.escape(article.title)}</strong>:</p>"]
    for reply in replies:
        link = base_url + reply_permalink(article.slug, reply.id)
        excerpt = reply.source if len(reply.source) <= 2000 else reply.source[:2000] + "…"
        said = "mentioned you" if reply.id in letter.mentioned else "wrote"
        text_lines += [f"{reply.author.username} {said}:", excerpt, f"Read and reply: {link}", ""]
        html_parts.append(
            f'<div style="margin:1em 0;padding-left:.75em;border-left:3px solid #ccc">'
            f"<p><strong>{html.escape(reply.author.username)}</strong> {said}:</p>"
            f"{absolute_links(reply.html, base_url)}"
            f'<p><a href="{html.escape(link)}">Read and reply</a></p></div>'
        )
    why = why_sent(letter.reasons, letter.recipient.username)
    links = [("Leave this thread", letter.unsubscribe_url)]
    if letter.stop_mail_url:
        links.append(("Stop all email from the forum", letter.stop_mail_url))
    text_lines += ["--", why, *(f"{label}: {url}" for label, url in links)]
    anchors = " · ".join(f'<a href="{html.escape(url)}">{label}</a>' for label, url in links)
    html_parts.append(
        f'<hr><p style="color:#555;font-size:small">{html.escape(why)}<br>{anchors}</p>'
    )
    message.set_content("\n".join(text_lines))
    message.add_alternative("\n".join(html_parts), subtype="html")
    return message


def build_account_message(
    letter: AccountLetter, *, to: str, sender: str, message_id: str
) -> EmailMessage:
    """An account mail: plain text and HTML parts, no unsubscribe (it was asked for)."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = letter.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    #: Lets a reader (and the tests) tell account mail from notifications.
    message["X-Forum-Mail"] = "account"
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message
