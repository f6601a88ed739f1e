"""Who reacts to which event: every subscriber of the event bus, registered here and nowhere
else (create_app calls these). Features never call each other; they react to events."""

from __future__ import annotations

import functools

from forum.event_types import (
    AccountDeleted,
    FlagsChanged,
    MailQueued,
    MuteChanged,
    NotificationsChanged,
    ReplyEdited,
    ReplyHidden,
    ReplyPosted,
    ReplyUnhidden,
    ReplyVoted,
    RoleChanged,
    SessionEnded,
    SubscriptionChanged,
    ThreadEvent,
    UserSuspended,
)
from forum.events import EventBus
from forum.live.accounts import LiveAccounts
from forum.live.scores import LiveScores
from forum.live.stream import record_in_stream
from forum.live.threads import LiveThreads, thread_channel
from forum.notifications.mentions import record_mentions
from forum.notifications.sender import MailSender
from forum.notifications.service import notified_of, record_notifications
from forum.replies.service import delete_replies_of, rename_replies_of
from forum.settings import Settings


def event_bus(settings: Settings) -> EventBus:
    """The bus with its hooks: the work that commits or rolls back with each change."""
    bus = EventBus()
    coalesce = settings.mail_coalesce_seconds
    # Notifications first: their rows are written before the thread's stream takes the
    # article's row lock, which is then held only briefly until commit. Mentions before the
    # other notices: one notice per member and reply, and "mentioned you" says more.
    mentions = functools.partial(record_mentions, coalesce_seconds=coalesce)
    bus.hook(ReplyPosted, mentions)
    bus.hook(ReplyEdited, mentions)
    bus.hook(ReplyPosted, functools.partial(record_notifications, coalesce_seconds=coalesce))
    bus.hook(ThreadEvent, record_in_stream)
    # A deleted account's replies go with it when its owner chose so, in its transaction.
    bus.hook(AccountDeleted, delete_replies_of)
    # Kept, they are shown again by "[deleted account]" in the pages open on them.
    bus.hook(AccountDeleted, rename_replies_of)
    return bus


def subscribe_live(
    bus: EventBus,
    live: LiveThreads,
    accounts: LiveAccounts,
    sender: MailSender | None,
    *,
    scores: LiveScores | None = None,
) -> None:
    """What happens after commit: open pages, bells, the moderators' queue, the mail sender."""
    bus.subscribe(ThreadEvent, live.committed)

    async def stopped_typing(event: ReplyPosted) -> None:
        # The "alice is replying…" of the author goes away in every page as the reply arrives.
        await live.typing.posted(
            thread_channel(event.article_id), event.article_id, event.author_id
        )

    bus.subscribe(ReplyPosted, stopped_typing)
    if scores is not None:
        live_scores = scores

        async def score_changed(event: ReplyVoted) -> None:
            # Throttled per reply in the live layer (forum.live.scores), never in the stream.
            await live_scores.changed(event.article_id, event.reply_id)

        bus.subscribe(ReplyVoted, score_changed)

    async def bells_of_notified(event: ReplyHidden | ReplyUnhidden) -> None:
        # Bells count a reply only while its reader may read it.
        await bus.dispatch(NotificationsChanged(user_ids=await notified_of(event.reply_id)))

    bus.subscribe(ReplyHidden, bells_of_notified)
    bus.subscribe(ReplyUnhidden, bells_of_notified)

    async def bells(event: NotificationsChanged) -> None:
        await accounts.bell_changed(event.user_ids)

    async def following(event: SubscriptionChanged) -> None:
        await accounts.following_changed(event.user_id, event.article_id, event.following)

    async def suspended(event: UserSuspended) -> None:
        await accounts.suspended(event.user_id)

    async def role_changed(event: RoleChanged) -> None:
        await accounts.access_changed(event.user_id)

    async def signed_out(event: SessionEnded) -> None:
        await accounts.session_ended(event.user_id, event.session_id)

    async def mute_changed(event: MuteChanged) -> None:
        await accounts.mute_changed(event.user_id, event.muted_id, event.muted)

    async def queue_changed(event: FlagsChanged) -> None:
        await accounts.flags_changed()

    bus.subscribe(NotificationsChanged, bells)
    bus.subscribe(SubscriptionChanged, following)
    bus.subscribe(UserSuspended, suspended)
    bus.subscribe(RoleChanged, role_changed)
    bus.subscribe(SessionEnded, signed_out)
    bus.subscribe(FlagsChanged, queue_changed)
    bus.subscribe(MuteChanged, mute_changed)
    if sender is not None:

        async def wake_sender(event: MailQueued) -> None:
            sender.wake.set()

        bus.subscribe(MailQueued, wake_sender)
