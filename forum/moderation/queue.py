"""The flag queue as moderators' open pages receive it live."""

from __future__ import annotations

from jinja2 import Environment

from forum.moderation.service import flag_queue
from models import Role, User

#: Renders the queue as any moderator sees it (the queue does not differ between moderators).
_ANY_MODERATOR = User(id=0, username="", username_key="", role=Role.MODERATOR)


async def render_flag_queue(env: Environment) -> str:
    """The queue's markup, as an <hx-partial> that replaces #flag-queue."""
    items = await flag_queue(_ANY_MODERATOR)
    module = env.get_template("_flag_queue.html").make_module({"items": items})
    return f'<hx-partial hx-target="#flag-queue" hx-swap="outerHTML">{module}</hx-partial>'
