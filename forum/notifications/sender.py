"""The mail sender: delivers the outbox, coalesced per recipient and thread, each message once,
and account mail (verification, reset and sign-in links, address changes), one message per row.

It runs inside the server by default, or alone as `python -m forum mailer`. Several senders may
run at once: each claims the items it sends, so no two send the same mail. A claim is short
(MAIL_CLAIM_SECONDS) and renewed while its mail is being sent, so it never lapses under a live
sender however slow the SMTP server, and the mail of a sender that died (killed mid-send) is taken
over and sent again soon after, with the same Message-ID. A message the SMTP server never
accepted is thus sent exactly once; the one window left, a sender dying after the server accepted
a message but before the outbox recorded it, no SMTP client can close (RFC 1047): that message is
sent again, recognisable by its Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from tortoise.expressions import Q

from forum.accounts.letters import LINK_PATHS, account_letter, link_for
from forum.accounts.standing import receives_mail
from forum.accounts.tokens import token_from_seed, token_hash
from forum.notifications.mail import (
    FolderTransport,
    Letter,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
    build_account_message,
    build_message,
    new_message_id,
)
from forum.notifications.tokens import stop_mail_token, unsubscribe_token
from forum.settings import Settings
from forum.visibility import shows_body
from models import (
    AccountMail,
    AccountMailKind,
    AccountToken,
    Article,
    MailStatus,
    Notification,
    NotificationKind,
    OutboxItem,
    Reply,
    Subscription,
    User,
)

log = logging.getLogger("forum.mail")
#: The two queues the sender works through, with the same claims, retries and Message-IDs.
Queue = type[OutboxItem] | type[AccountMail]
QUEUES: tuple[Queue, ...] = (AccountMail, OutboxItem)


@dataclass(frozen=True)
class SenderRules:
    """How the sender behaves, from the settings."""

    max_attempts: int = 5
    #: Wait after the first temporary failure; doubles with each further one.
    retry_seconds: float = 30.0
    #: How long a claim holds, unless renewed, before another sender may take the items over.
    claim_seconds: float = 60.0
    batch_size: int = 200


def sender_rules(settings: Settings) -> SenderRules:
    """The sender's behaviour from the settings."""
    return SenderRules(
        retry_seconds=settings.mail_retry_seconds, claim_seconds=settings.mail_claim_seconds
    )


def transport_for(settings: Settings) -> Transport:
    """SMTP when SMTP_URL is set, else files in MAIL_DIR."""
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url)
    return FolderTransport(settings.mail_dir)


class MailSender:
    """Sends due outbox items; safe to run in several processes and to kill at any moment."""

    def __init__(self, settings: Settings, transport: Transport, rules: SenderRules) -> None:
        self._settings = settings
        self._transport = transport
        self._rules = rules
        self._domain = urlsplit(settings.base_url).hostname or "forum.local"
        self.wake = asyncio.Event()

    async def run(self, poll_seconds: float = 2.0) -> None:
        """Send forever: when woken by a new item, when the next one falls due, and at least
        every poll_seconds."""
        while True:
            # Cleared before the pass, so an item written during it wakes the next one at once.
            self.wake.clear()
            wait = poll_seconds
            try:
                await self.send_due()
                wait = await self._seconds_to_next(poll_seconds)
            except Exception:
                log.exception("mail sender pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=wait)

    async def _seconds_to_next(self, longest: float) -> float:
        """How long until a pending item may go: its window or backoff ends, or a claim on it
        lapses (its sender died); at most longest."""
        now = datetime.now(UTC)
        moments = []
        for queue in QUEUES:
            pending = queue.filter(status=MailStatus.PENDING)
            due = await pending.filter(due_at__gt=now).order_by("due_at").first()
            claimed = await pending.filter(claimed_until__gt=now).order_by("claimed_until").first()
            if due is not None:
                moments.append(due.due_at)
            if claimed is not None and claimed.claimed_until is not None:
                moments.append(claimed.claimed_until)
        return min([longest, *((moment - now).total_seconds() for moment in moments)])

    async def send_due(self) -> int:
        """Send every message that is due now; returns how many were sent."""
        # Account mail first: someone is waiting for its link.
        sent = await self._send_account_mail()
        now = datetime.now(UTC)
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        due = (
            await OutboxItem.filter(free, status=MailStatus.PENDING, due_at__lte=now)
            .order_by("id")
            .limit(self._rules.batch_size)
        )
        groups: dict[tuple[int, int], list[OutboxItem]] = defaultdict(list)
        for item in due:
            groups[(item.recipient_id, item.article_id)].append(item)
        for items in groups.values():
            sent += await self._send_group(items)
        return sent

    async def _claim(self, queue: Queue, ids: list[int]) -> str:
        """Claim what of these items no other sender holds; the claim, to load them by."""
        now = datetime.now(UTC)
        claim = secrets.token_hex(8)
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        await queue.filter(free, id__in=ids, status=MailStatus.PENDING).update(
            claim=claim, claimed_until=now + timedelta(seconds=self._rules.claim_seconds)
        )
        return claim

    async def _send_group(self, candidates: list[OutboxItem]) -> int:
        claim = await self._claim(OutboxItem, [item.id for item in candidates])
        items = await OutboxItem.filter(claim=claim, status=MailStatus.PENDING).order_by("id")
        if not items:
            return 0
        recipient = await User.get(id=items[0].recipient_id)
        article = await Article.get(id=items[0].article_id)
        replies = {
            reply.id: reply
            for reply in await Reply.filter(id__in=[i.reply_id for i in items]).select_related(
                "author"
            )
        }
        left = await Subscription.filter(
            user_id=recipient.id, article_id=article.id, active=False
        ).exists()
        keep: list[OutboxItem] = []
        drop: list[OutboxItem] = []
        for item in items:
            reply = replies.get(item.reply_id)
            readable = reply is not None and shows_body(reply, recipient)
            (keep if readable and not left else drop).append(item)
        if not receives_mail(recipient):
            # No verified address (or mail switched off, or suspended) by now.
            keep, drop = [], items
        if drop:
            # Hidden or deleted since, or the reader left the thread: never send it.
            await OutboxItem.filter(id__in=[i.id for i in drop]).update(
                status=MailStatus.CANCELLED, claimed_until=None
            )
        if not keep:
            return 0
        # A resend after a crash reuses the Message-ID the first attempt chose.
        message_id = next((i.message_id for i in keep if i.message_id), "") or new_message_id(
            self._domain
        )
        ids = [i.id for i in keep]
        await OutboxItem.filter(id__in=ids).update(message_id=message_id)
        # Why they are told: the kinds of the notifications written with these items.
        notices = await Notification.filter(
            user_id=recipient.id, reply_id__in=[i.reply_id for i in keep]
        ).values_list("reply_id", "kind")
        kinds = [kind for _, kind in notices]
        mentioned = [reply_id for reply_id, kind in notices if kind == NotificationKind.MENTION]
        base, secret = f"{self._settings.base_url}/unsubscribe", self._settings.secret_key
        letter = Letter(
            recipient=recipient,
            article=article,
            replies=[replies[i.reply_id] for i in keep],
            message_id=message_id,
            unsubscribe_url=f"{base}/{unsubscribe_token(secret, recipient.id, article.id)}",
            stop_mail_url=f"{base}/{stop_mail_token(secret, recipient.id)}",
            reasons=frozenset(str(kind) for kind in kinds) or frozenset({NotificationKind.THREAD}),
            mentioned=frozenset(mentioned),
        )
        message = build_message(
            letter, sender=self._settings.mail_from, base_url=self._settings.base_url
        )
        attempts = max(i.attempts for i in keep) + 1
        try:
            async with self._holding(OutboxItem, items[0].claim):
                await self._transport.send(message)
        except TemporaryFailure as error:
            await self._retry_later(OutboxItem, ids, attempts, str(error))
            return 0
        except PermanentFailure as error:
            await OutboxItem.filter(id__in=ids).update(
                status=MailStatus.FAILED, attempts=attempts, last_error=str(error)[:500]
            )
            log.warning("mail to user %s failed for good: %s", recipient.id, error)
            return 0
        await OutboxItem.filter(id__in=ids).update(
            status=MailStatus.SENT, attempts=attempts, sent_at=datetime.now(UTC), claimed_until=None
        )
        return 1

    async def _send_account_mail(self) -> int:
        now = datetime.now(UTC)
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        due = (
            await AccountMail.filter(free, status=MailStatus.PENDING, due_at__lte=now)
            .order_by("id")
            .limit(self._rules.batch_size)
        )
        sent = 0
        for candidate in due:
            sent += await self._send_account_item(candidate)
        return sent

    async def _send_account_item(self, candidate: AccountMail) -> int:
        claim = await self._claim(AccountMail, [candidate.id])
        item = await AccountMail.get_or_none(claim=claim, status=MailStatus.PENDING)
        if item is None:
            return 0
        user = await User.get_or_none(id=item.user_id, deleted_at=None)
        if user is None:
            # The account was deleted meanwhile: nothing goes to it any more.
            await AccountMail.filter(id=item.id).update(
                status=MailStatus.CANCELLED, token_seed="", claimed_until=None
            )
            return 0
        link = ""
        if item.kind in LINK_PATHS:
            token = token_from_seed(self._settings.secret_key, item.token_seed)
            live = await AccountToken.filter(
                token_hash=token_hash(token), used_at=None, expires_at__gt=datetime.now(UTC)
            ).exists()
            if not live:
                # Used, replaced by a newer link, or expired before it could go: never send it.
                await AccountMail.filter(id=item.id).update(
                    status=MailStatus.CANCELLED, token_seed="", claimed_until=None
                )
                return 0
            link = link_for(item.kind, self._settings.base_url, token)
        new_address = user.email or "" if item.kind is AccountMailKind.EMAIL_CHANGED else ""
        letter = account_letter(item.kind, user.username, link, new_address)
        message_id = item.message_id or new_message_id(self._domain)
        await AccountMail.filter(id=item.id).update(message_id=message_id)
        message = build_account_message(
            letter, to=item.to_address, sender=self._settings.mail_from, message_id=message_id
        )
        attempts = item.attempts + 1
        try:
            async with self._holding(AccountMail, claim):
                await self._transport.send(message)
        except TemporaryFailure as error:
            await self._retry_later(AccountMail, [item.id], attempts, str(error))
            # Given up: the seed is of no more use.
            await AccountMail.filter(id=item.id, status=MailStatus.FAILED).update(token_seed="")
            return 0
        except PermanentFailure as error:
            await AccountMail.filter(id=item.id).update(
                status=MailStatus.FAILED,
                attempts=attempts,
                last_error=str(error)[:500],
                token_seed="",
            )
            log.warning("account mail to user %s failed for good: %s", user.id, error)
            return 0
        await AccountMail.filter(id=item.id).update(
            status=MailStatus.SENT,
            attempts=attempts,
            sent_at=datetime.now(UTC),
            claimed_until=None,
            # The link is in the recipient's hands now: nothing here can make it again.
            token_seed="",
        )
        return 1

    @contextlib.asynccontextmanager
    async def _holding(self, queue: Queue, claim: str) -> AsyncIterator[None]:
        """Renew the claim while the block runs: were it to lapse during a slow send, another
        sender would take the items over and send the same mail again."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self._rules.claim_seconds / 3)
                until = datetime.now(UTC) + timedelta(seconds=self._rules.claim_seconds)
                try:
                    await queue.filter(claim=claim, status=MailStatus.PENDING).update(
                        claimed_until=until
                    )
                except Exception:
                    log.exception("could not renew mail claim %s; trying again", claim)

        renewing = asyncio.create_task(renew(), name=f"mail-claim-{claim}")
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _retry_later(self, queue: Queue, ids: list[int], attempts: int, error: str) -> None:
        if attempts >= self._rules.max_attempts:
            await queue.filter(id__in=ids).update(
                status=MailStatus.FAILED, attempts=attempts, last_error=error[:500]
            )
            return
        delay = self._rules.retry_seconds * 2 ** (attempts - 1)
        await queue.filter(id__in=ids).update(
            attempts=attempts,
            last_error=error[:500],
            due_at=datetime.now(UTC) + timedelta(seconds=delay),
            claimed_until=None,
        )
