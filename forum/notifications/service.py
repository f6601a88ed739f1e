"""Who is notified of a reply, the bell's list, and subscriptions.

Notifications and outbox items are written in the reply's own transaction; the bell is told
after commit. What a recipient may read is decided by forum.visibility, at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tortoise.transactions import in_transaction

from forum.moderation.service import is_suspended, require_active
from forum.visibility import readable_rows
from models import (
    Article,
    MailStatus,
    Notification,
    NotificationKind,
    OutboxItem,
    Reply,
    Subscription,
    User,
)

#: How many notifications the bell's list shows.
LIST_LIMIT = 50


class BellEvents(Protocol):
    """Where unread counts go after a change (forum.live.accounts.LiveAccounts)."""

    async def bell_changed(self, user_ids: list[int]) -> None:
        """Tell these users' open pages their new unread counts."""


class Notifier(Protocol):
    """What posting a reply needs from notifications (forum.notifications.web.AppNotifier)."""

    #: MAIL_COALESCE_SECONDS: one email per thread and recipient per window.
    coalesce_seconds: int

    async def notified(self, user_ids: list[int]) -> None:
        """After commit: update these users' bells and wake the mail sender."""


async def record_notifications(
    reply: Reply, parent: Reply | None, article: Article, coalesce_seconds: int
) -> list[int]:
    """Notify the parent's author and the thread's followers of a new reply; call inside the
    reply's transaction. Returns the ids of the users notified."""
    subscriptions = await Subscription.filter(article_id=article.id)
    following = {sub.user_id for sub in subscriptions if sub.active}
    left = {sub.user_id for sub in subscriptions if not sub.active}
    kinds: dict[int, NotificationKind] = {user_id: NotificationKind.THREAD for user_id in following}
    if parent is not None:
        parent_author = await User.get(id=parent.author_id)
        if parent_author.notify_replies:
            kinds[parent_author.id] = NotificationKind.REPLY
    kinds.pop(reply.author_id, None)
    for user_id in left:
        kinds.pop(user_id, None)
    if not kinds:
        return []
    recipients = [user for user in await User.filter(id__in=list(kinds)) if not is_suspended(user)]
    now = datetime.now(UTC)
    await Notification.bulk_create(
        [
            Notification(user_id=user.id, reply_id=reply.id, kind=kinds[user.id])
            for user in recipients
        ]
    )
    for user in recipients:
        if user.email:
            await OutboxItem.create(
                recipient_id=user.id,
                reply_id=reply.id,
                article_id=article.id,
                due_at=await _mail_due(user.id, article.id, now, coalesce_seconds),
            )
    return [user.id for user in recipients]


async def _mail_due(
    user_id: int, article_id: int, now: datetime, coalesce_seconds: int
) -> datetime:
    """When a new item may go: with the pending mail of this thread, or one window after the
    last one sent, so a burst of replies makes one email."""
    window = timedelta(seconds=coalesce_seconds)
    pending = await OutboxItem.filter(
        recipient_id=user_id, article_id=article_id, status=MailStatus.PENDING
    ).first()
    if pending is not None:
        return pending.due_at
    last = (
        await OutboxItem.filter(recipient_id=user_id, article_id=article_id, status=MailStatus.SENT)
        .order_by("-sent_at")
        .first()
    )
    if last is not None and last.sent_at is not None:
        return max(now, last.sent_at + window)
    return now + window


@dataclass(frozen=True)
class NotificationView:
    """One line under the bell."""

    notification: Notification
    reply: Reply


async def unread_count(user: User) -> int:
    """Unread notifications about replies the user may read."""
    return await Reply.filter(
        readable_rows(user), notifications__user_id=user.id, notifications__read_at=None
    ).count()


async def notifications_for(user: User) -> tuple[int, list[NotificationView]]:
    """The unread count and the newest notifications, about replies the user may read."""
    require_active(user)
    rows = (
        await Notification.filter(user_id=user.id)
        .order_by("-id")
        .limit(LIST_LIMIT)
        .prefetch_related("reply__author", "reply__article")
    )
    readable = set(
        await Reply.filter(readable_rows(user), id__in=[row.reply_id for row in rows]).values_list(
            "id", flat=True
        )
    )
    items = [NotificationView(row, row.reply) for row in rows if row.reply_id in readable]
    return await unread_count(user), items


async def mark_read(user: User, ids: list[int] | None, bell: BellEvents) -> int:
    """Mark some (or, with None, all) of the user's notifications read; returns how many."""
    require_active(user)
    query = Notification.filter(user_id=user.id, read_at=None)
    if ids is not None:
        query = query.filter(id__in=ids)
    count = await query.update(read_at=datetime.now(UTC))
    await bell.bell_changed([user.id])
    return int(count)


async def is_following(user: User | None, article: Article) -> bool:
    """Whether the user follows the thread."""
    if user is None:
        return False
    return await Subscription.filter(user_id=user.id, article_id=article.id, active=True).exists()


async def set_following(user: User | None, article: Article, follow: bool) -> bool:
    """Follow or leave a thread (leaving also stops notices of replies to one's replies)."""
    reader = require_active(user)
    async with in_transaction():
        updated = await Subscription.filter(user_id=reader.id, article_id=article.id).update(
            active=follow
        )
        if not updated:
            await Subscription.create(user_id=reader.id, article_id=article.id, active=follow)
    return follow


async def leave_thread(user_id: int, article_id: int) -> None:
    """One-click unsubscribe: stop all mail and notices from the thread (idempotent)."""
    async with in_transaction():
        updated = await Subscription.filter(user_id=user_id, article_id=article_id).update(
            active=False
        )
        if not updated and await User.exists(id=user_id) and await Article.exists(id=article_id):
            await Subscription.create(user_id=user_id, article_id=article_id, active=False)
        await OutboxItem.filter(
            recipient_id=user_id, article_id=article_id, status=MailStatus.PENDING
        ).update(status=MailStatus.CANCELLED)
