"""Jinja2 environment: templates only render what handlers give them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from starlette.templating import Jinja2Templates

from forum.accounts.standing import is_deleted_name
from forum.security_headers import csp_nonce
from forum.settings import PROJECT_ROOT
from forum.static_assets import ASSETS
from forum.urls import article_url, avatar_url, reply_url, user_url
from forum.visibility import is_moderator, shows_body


def time_ago(moment: datetime, now: datetime | None = None) -> str:
    """A short relative time such as "5 minutes ago"."""
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (
        ("year", 31_536_000),
        ("month", 2_592_000),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
    ):
        if seconds >= size * 0.95 or unit == "minute":
            count = max(round(seconds / size), 1)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"  # pragma: no cover


def absolute_time(moment: datetime) -> str:
    """A readable UTC timestamp for a title attribute."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def edit_deadline(window_seconds: int) -> Callable[[object], datetime | None]:
    """For templates: when a reply's edit window closes, or None once it has."""

    def deadline(reply: object) -> datetime | None:
        created_at = getattr(reply, "created_at", None)
        if created_at is None:
            return None
        until: datetime = created_at + timedelta(seconds=window_seconds)
        return until if until > datetime.now(UTC) else None

    return deadline


def minutes_left(until: datetime) -> int:
    """Whole minutes (rounded up) until a moment, at least 1."""
    return max(-(-int((until - datetime.now(UTC)).total_seconds()) // 60), 1)


def build_templates(edit_window_seconds: int = 15 * 60) -> Jinja2Templates:
    """The app's template renderer with the forum's filters; edit_window_seconds says how long
    replies show their Edit link (settings.edit_window_seconds)."""
    templates = Jinja2Templates(
        directory=PROJECT_ROOT / "templates", context_processors=[csp_nonce]
    )
    templates.env.filters["ago"] = time_ago
    templates.env.filters["absolute_time"] = absolute_time
    templates.env.globals["is_moderator"] = is_moderator
    templates.env.globals["article_url"] = article_url
    templates.env.globals["reply_url"] = reply_url
    templates.env.globals["user_url"] = user_url
    templates.env.globals["avatar_url"] = avatar_url
    templates.env.globals["is_deleted_name"] = is_deleted_name
    templates.env.globals["shows_body"] = shows_body
    templates.env.globals["static_url"] = ASSETS.url
    templates.env.globals["edit_deadline"] = edit_deadline(edit_window_seconds)
    templates.env.filters["minutes_left"] = minutes_left
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    return templates
