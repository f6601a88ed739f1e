"""Finding members by name: the names a reply mentions, and the composer's suggestions.

A deleted account is no one's to mention (its row stays, nameless); a suspended member is
still named, linked and shown on their page, but not suggested: they cannot answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from tortoise.expressions import Q

from forum.accounts.service import username_key
from forum.accounts.standing import require_active
from forum.ratelimits import RateLimiter
from models import User

#: Most names one suggestion request answers.
SUGGESTIONS_MAX = 10


async def members_named(keys: Iterable[str]) -> dict[str, User]:
    """The members (not deleted) with these username keys, by key; unknown keys are left out."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    users = await User.filter(username_key__in=wanted, deleted_at__isnull=True)
    return {user.username_key: user for user in users}


async def suggest_usernames(
    prefix: str, viewer: User | None, limiter: RateLimiter, limit: int = SUGGESTIONS_MAX
) -> list[str]:
    """Usernames starting with prefix (case-insensitive, on the normalised key), in key order:
    members not deleted and not suspended, the asker left out (mentioning oneself notifies
    no one). Counted against the asker's limit (RateLimited): names are public one by one on
    their pages, but a list of every member is a spammer's."""
    viewer = require_active(viewer)
    await limiter.check_suggestions(viewer.id)
    not_suspended = Q(suspended_until__isnull=True) | Q(suspended_until__lte=datetime.now(UTC))
    names = (
        await User.filter(
            not_suspended,
            username_key__startswith=username_key(prefix),
            deleted_at__isnull=True,
        )
        .exclude(id=viewer.id)
        .order_by("username_key")
        .limit(min(limit, SUGGESTIONS_MAX))
        .values_list("username", flat=True)
    )
    return [str(name) for name in names]
