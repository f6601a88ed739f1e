"""The flag queue as moderators' open pages receive it live."""

from __future__ import annotations

from jinja2 import Environment

from forum.moderation.service import QUEUE_PAGE, flag_queue, flagged_reply_count
from models import Role, User

#: Renders the queue as any moderator sees it (the queue does not differ between moderators).
_ANY_MODERATOR = User(id=0, username="", username_key="", role=Role.MODERATOR)


async def render_flag_queue(env: Environment) -> str:
    """The queue's first page and its total, as <hx-partial>s that replace #flag-queue and
    #flag-total (pages after the first load themselves again: static/forum.js)."""
    items = await flag_queue(_ANY_MODERATOR, QUEUE_PAGE)
    total = await flagged_reply_count(_ANY_MODERATOR)
    context = {"items": items, "total": total, "page": 1, "pages": -(-total // QUEUE_PAGE)}
    module = env.get_template("_flag_queue.html").make_module(context)
    # The template's {% set total_line %}: an attribute Jinja makes, unknown to type checkers.
    total_line = module.__dict__["total_line"]
    return (
        f'<hx-partial hx-target="#flag-total" hx-swap="outerHTML">{total_line}</hx-partial>'
        f'<hx-partial hx-target="#flag-queue" hx-swap="outerHTML">{module}</hx-partial>'
    )
