"""Mentions: a member named in a reply (@name) is told of it, once per reply.

A hook of ReplyPosted and ReplyEdited, inside the reply's transaction, registered before the
thread's other notices (forum.wiring) so that a member both mentioned and answered is told
"mentioned you". The rules every notice keeps (never the author, nor a suspended member, nor
one who left the thread, never twice for a reply) are forum.notifications.service.notify's.
Which names are mentions (not in code, not in links) is forum.markdown's; the reply's links to
them were made when it was rendered (forum.replies.service).
"""

from __future__ import annotations

from forum.accounts.directory import members_named
from forum.event_types import ReplyEdited, ReplyPosted
from forum.events import Transaction
from forum.markdown import mention_keys
from forum.notifications.service import notify
from models import Notification, NotificationKind, Reply, ReplyStatus

#: Most members one reply's mentions notify, over all its edits: a reply naming a crowd is
#: noise (or spam) for most of them.
MENTIONS_NOTIFIED_MAX = 10


async def record_mentions(
    event: ReplyPosted | ReplyEdited, tx: Transaction, coalesce_seconds: int
) -> None:
    """Notify the members a visible reply names and who were not yet notified of it (a post,
    or an edit adding names), the first MENTIONS_NOTIFIED_MAX of them in the text's order."""
    if isinstance(event, ReplyPosted) and event.mentioned == ():
        return  # a new reply naming nobody: nothing to read
    reply = await Reply.get_or_none(id=event.reply_id)
    # A hidden reply tells no one; its notices already made follow its visibility.
    if reply is None or reply.status != ReplyStatus.VISIBLE:
        return
    keys = mention_keys(reply.source)
    if not keys:
        return
    members = await members_named(keys)
    named = [members[key].id for key in keys if key in members]
    named = [user_id for user_id in named if user_id != reply.author_id]
    if not named:
        return
    notices = await Notification.filter(reply_id=reply.id).values_list("user_id", "kind")
    told = {int(user_id) for user_id, _ in notices}
    mentioned = sum(1 for _, kind in notices if kind == NotificationKind.MENTION)
    budget = MENTIONS_NOTIFIED_MAX - mentioned
    fresh = [user_id for user_id in named if user_id not in told][: max(budget, 0)]
    if not fresh:
        return
    await notify(
        tx,
        reply_id=reply.id,
        article_id=reply.article_id,
        author_id=reply.author_id,
        kinds=dict.fromkeys(fresh, NotificationKind.MENTION),
        coalesce_seconds=coalesce_seconds,
    )
