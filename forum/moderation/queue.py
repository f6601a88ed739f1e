"""The flag queue as moderators' open pages receive it live."""

from __future__ import annotations

from jinja2 import Environment

from forum.moderation.flagged import QUEUE_PAGE, author_totals, flag_queue, flagged_reply_count
from models import Role, User

#: Renders the queue as any moderator sees it (the queue does not differ between moderators).
_ANY_MODERATOR = User(id=0, username="", username_key="", role=Role.MODERATOR)


async def render_flag_queue(env: Environment) -> str:
    """The queue's first page and its total, as <hx-partial>s that replace #flag-queue and
    #flag-total (pages after the first load themselves again: static/forum.js)."""
    items = await flag_queue(_ANY_MODERATOR, QUEUE_PAGE)
    total = await flagged_reply_count(_ANY_MODERATOR)
    context = {
        "items": items,
        "total": total,
        "page": 1,
        "pages": -(-total // QUEUE_PAGE),
        "author_totals": await author_totals({item.reply.author_id for item in items}),
    }
    return env.get_template("_flag_queue_partials.html").render(context)
