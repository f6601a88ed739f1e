"""Who is notified of a reply, the bell's list, and subscriptions.

Notifications and outbox items are written in the reply's own transaction; the bell is told
after commit. What a recipient may read is decided by forum.visibility, at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.functions import Count, Max
from tortoise.transactions import in_transaction

from forum.accounts.muting import muters_of
from forum.accounts.standing import is_moderator, is_suspended, receives_mail, require_active
from forum.db import insert_rows, select_models, select_rows
from forum.errors import NotFound
from forum.event_types import MailQueued, NotificationsChanged, ReplyPosted, SubscriptionChanged
from forum.events import EventBus, Transaction
from forum.visibility import readable_rows, shows_body
from models import (
    Article,
    MailStatus,
    Notification,
    NotificationKind,
    OutboxItem,
    Reply,
    ReplyStatus,
    Subscription,
    User,
)

#: How many notifications the bell's list shows.
LIST_LIMIT = 50


async def record_notifications(event: ReplyPosted, tx: Transaction, coalesce_seconds: int) -> None:
    """Notify the parent's author and the thread's followers of a new reply, and queue their
    mail: a hook of ReplyPosted, inside the reply's transaction (before the thread's stream
    takes the article's row lock). Emits NotificationsChanged and MailQueued."""
    # Hand-written: every reply runs it, and mostly finds nobody.
    subscriptions = await select_rows(
        Subscription,
        "SELECT user_id, active FROM subscriptions WHERE article_id = ?",
        [event.article_id],
    )
    following = {int(user_id) for user_id, active in subscriptions if active}
    # Leaving a thread also stops notices of replies to one's own replies in it.
    left = {int(user_id) for user_id, active in subscriptions if not active}
    candidates = following | ({event.parent_author_id} if event.parent_author_id else set())
    candidates -= left
    if not candidates:
        return
    parent_author_wants = event.parent_author_id in candidates and await User.exists(
        id=event.parent_author_id, notify_replies=True
    )
    kinds: dict[int, NotificationKind] = {}
    for user_id in candidates:
        if user_id == event.parent_author_id and parent_author_wants:
            kinds[user_id] = NotificationKind.REPLY
        elif user_id in following:
            kinds[user_id] = NotificationKind.THREAD
    await notify(
        tx,
        reply_id=event.reply_id,
        article_id=event.article_id,
        author_id=event.author_id,
        kinds=kinds,
        coalesce_seconds=coalesce_seconds,
    )


async def notify(
    tx: Transaction,
    *,
    reply_id: int,
    article_id: int,
    author_id: int,
    kinds: dict[int, NotificationKind],
    coalesce_seconds: int,
) -> tuple[int, ...]:
    """The one way a notification is made: tell these members (user id → why) of a reply by
    author_id, inside the reply's transaction; returns who was notified.

    Every kind passes the same rules here: never the author, never a suspended member, nobody
    who left the thread, nobody who muted the author (no bell, mail or feed entry), nobody
    twice for one reply (whichever hook came first, its kind stands). The bell is told after
    commit (NotificationsChanged), and mail is queued for a verified address that wants mail.
    """
    wanted = set(kinds) - {author_id} - await muters_of(author_id)
    if not wanted:
        return ()
    # By hand: a followed thread's every reply runs it, for each follower (the ORM built an IN
    # list of them three times over, and a model per row twice).
    recipients = [
        user
        for user in await select_models(
            User,
            f"SELECT u.* FROM users u WHERE u.id IN ({', '.join('?' * len(wanted))})"
            " AND NOT EXISTS (SELECT 1 FROM subscriptions s"
            " WHERE s.user_id = u.id AND s.article_id = ? AND s.active = ?)"
            " AND NOT EXISTS (SELECT 1 FROM notifications n"
            " WHERE n.user_id = u.id AND n.reply_id = ?)"
            " ORDER BY u.id",
            [*sorted(wanted), article_id, False, reply_id],
            [],
        )
        if not is_suspended(user)
    ]
    if not recipients:
        return ()
    now = datetime.now(UTC)
    await insert_rows(
        Notification,
        [
            {
                "user_id": user.id,
                "reply_id": reply_id,
                "kind": kinds[user.id].value,
                "created_at": now,
                "read_at": None,
            }
            for user in recipients
        ],
    )
    # Only to an address its owner verified (and has not switched mail off).
    mailed = [user for user in recipients if receives_mail(user)]
    if mailed:
        due = await _mail_due([user.id for user in mailed], article_id, now, coalesce_seconds)
        await insert_rows(
            OutboxItem,
            [
                {
                    "recipient_id": user.id,
                    "reply_id": reply_id,
                    "article_id": article_id,
                    "status": MailStatus.PENDING.value,
                    "attempts": 0,
                    "due_at": due[user.id],
                    "message_id": "",
                    "claim": "",
                    "claimed_until": None,
                    "last_error": "",
                    "created_at": now,
                    "sent_at": None,
                }
                for user in mailed
            ],
        )
    notified = tuple(user.id for user in recipients)
    await tx.emit(NotificationsChanged(user_ids=notified))
    if mailed:
        await tx.emit(MailQueued())
    return notified


async def _mail_due(
    user_ids: list[int], article_id: int, now: datetime, coalesce_seconds: int
) -> dict[int, datetime]:
    """When each recipient's new item may go: with their pending mail of this thread, or one
    window after the last one sent, so a burst of replies makes one email. Two queries for
    all the recipients, however many follow the thread."""
    window = timedelta(seconds=coalesce_seconds)
    due = {user_id: now + window for user_id in user_ids}
    last_sent = (
        await OutboxItem.filter(
            recipient_id__in=user_ids, article_id=article_id, status=MailStatus.SENT
        )
        .annotate(last=Max("sent_at"))
        .group_by("recipient_id")
        .values("recipient_id", "last")
    )
    for row in last_sent:
        if row["last"] is not None:
            due[row["recipient_id"]] = max(now, row["last"] + window)
    pending = (
        await OutboxItem.filter(
            recipient_id__in=user_ids, article_id=article_id, status=MailStatus.PENDING
        )
        .order_by("-id")
        .values("recipient_id", "due_at")
    )
    for row in pending:  # newest first: the oldest pending item's moment stands
        due[row["recipient_id"]] = row["due_at"]
    return due


@dataclass(frozen=True)
class NotificationView:
    """One line under the bell."""

    notification: Notification
    reply: Reply
    #: The start of the reply's text, when the user may read its body ("" otherwise).
    excerpt: str = ""


#: Characters of a reply shown under the bell.
EXCERPT_CHARS = 140


def excerpt_of(reply: Reply, user: User) -> str:
    """The start of the reply's text on one line, if the user may read its body."""
    if not shows_body(reply, user):
        return ""
    text = " ".join(reply.source.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


async def unread_count(user: User) -> int:
    """Unread notifications about replies the user may read."""
    return await Reply.filter(
        readable_rows(user), notifications__user_id=user.id, notifications__read_at=None
    ).count()


async def unread_counts(user_ids: set[int]) -> dict[int, int]:
    """unread_count of many users at once, for the bells one change touches: two queries
    whatever their number (the rules are unread_count's: forum.visibility.readable_rows)."""
    if not user_ids:
        return {}
    users = await User.filter(id__in=user_ids)
    counts = {user.id: 0 for user in users}
    unread = Notification.filter(user_id__in=list(counts), read_at=None)
    visible = (
        await unread.filter(reply__status=ReplyStatus.VISIBLE)
        .annotate(total=Count("id"))
        .group_by("user_id")
        .values_list("user_id", "total")
    )
    for user_id, total in visible:
        counts[int(user_id)] = int(total)
    # Hidden replies are few: moderators still read them, and so do their authors.
    moderators = {user.id for user in users if is_moderator(user)}
    hidden = await unread.filter(reply__status=ReplyStatus.HIDDEN).values_list(
        "user_id", "reply__author_id"
    )
    for user_id, author_id in hidden:
        if user_id in moderators or user_id == author_id:
            counts[int(user_id)] += 1
    return counts


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
    items = [
        NotificationView(row, row.reply, excerpt_of(row.reply, user))
        for row in rows
        if row.reply_id in readable
    ]
    return await unread_count(user), items


async def open_notification(user: User, notification_id: int, bus: EventBus) -> Reply:
    """The reply a notification of the user's is about, the notification now read; NotFound
    when it is not theirs or the reply is no longer theirs to read."""
    require_active(user)
    row = await Notification.get_or_none(id=notification_id, user_id=user.id).prefetch_related(
        "reply__article"
    )
    if row is None or not await Reply.filter(readable_rows(user), id=row.reply_id).exists():
        raise NotFound("That notification is gone.")
    if row.read_at is None:
        await mark_read(user, [row.id], bus)
    return row.reply


async def mark_read(user: User, ids: list[int] | None, bus: EventBus) -> int:
    """Mark some (or, with None, all) of the user's notifications read; returns how many."""
    require_active(user)
    query = Notification.filter(user_id=user.id, read_at=None)
    if ids is not None:
        query = query.filter(id__in=ids)
    async with bus.transaction() as tx:
        count = await query.update(read_at=datetime.now(UTC))
        await tx.emit(NotificationsChanged(user_ids=(user.id,)))
    return int(count)


async def is_following(user: User | None, article: Article) -> bool:
    """Whether the user follows the thread."""
    if user is None:
        return False
    return await Subscription.filter(user_id=user.id, article_id=article.id, active=True).exists()


async def set_following(user: User | None, article: Article, follow: bool, bus: EventBus) -> bool:
    """Follow or leave a thread (leaving also stops notices of replies to one's replies)."""
    reader = require_active(user)
    async with bus.transaction() as tx:
        updated = await Subscription.filter(user_id=reader.id, article_id=article.id).update(
            active=follow
        )
        if not updated:
            await Subscription.create(user_id=reader.id, article_id=article.id, active=follow)
        await tx.emit(
            SubscriptionChanged(user_id=reader.id, article_id=article.id, following=follow)
        )
    return follow


async def notified_of(reply_id: int) -> tuple[int, ...]:
    """Who was notified of a reply: their bells count it only while they may read it, so a
    change to its visibility changes their unread counts."""
    rows = await Notification.filter(reply_id=reply_id).values_list("user_id", flat=True)
    return tuple(sorted(set(rows)))  # type: ignore[arg-type]


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


async def stop_all_mail(user_id: int) -> bool:
    """One-click "stop all email": notification mail off and what is waiting cancelled
    (idempotent; the bell and feeds go on). False when there is no such account."""
    async with in_transaction():
        updated = await User.filter(id=user_id, deleted_at=None).update(email_notifications=False)
        await OutboxItem.filter(recipient_id=user_id, status=MailStatus.PENDING).update(
            status=MailStatus.CANCELLED
        )
    return bool(updated)


async def outbox_depth() -> dict[str, int]:
    """Outbox rows waiting to be sent and given up on, by state, in one indexed query
    (/metrics reads it at every scrape)."""
    rows = (
        await OutboxItem.filter(status__in=[MailStatus.PENDING, MailStatus.FAILED])
        .annotate(count=Count("id"))
        .group_by("status")
        .values("status", "count")
    )
    return {str(MailStatus(row["status"])): int(row["count"]) for row in rows}
