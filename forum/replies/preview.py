"""A reply's Markdown rendered as the forum will show it, before it is posted.

The same checks on the text and the same renderer and sanitiser as posting (check_body,
forum.markdown.render_reply with the forum's image policy), so that what the preview shows is
what the reply will be; nothing is written.
"""

from __future__ import annotations

from forum.accounts.standing import require_active
from forum.images.policy import ImagePolicy
from forum.markdown import render_reply
from forum.ratelimits import RateLimiter
from forum.replies.service import check_body
from models import User


async def preview_reply(
    body: object, author: User, *, limiter: RateLimiter, images: ImagePolicy
) -> str:
    """The sanitised HTML body would become as a reply by author; ValidationError on a body a
    reply may not have, RateLimited past the previews limit."""
    require_active(author)
    text = check_body(body)
    await limiter.check_preview(author.id)
    return render_reply(text, images)
