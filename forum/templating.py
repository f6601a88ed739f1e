"""Jinja2 environment: templates only render what handlers give them."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.templating import Jinja2Templates

from forum.security_headers import csp_nonce
from forum.settings import PROJECT_ROOT
from forum.static_assets import ASSETS
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


def build_templates() -> Jinja2Templates:
    """The app's template renderer with the forum's filters."""
    templates = Jinja2Templates(
        directory=PROJECT_ROOT / "templates", context_processors=[csp_nonce]
    )
    templates.env.filters["ago"] = time_ago
    templates.env.filters["absolute_time"] = absolute_time
    templates.env.globals["is_moderator"] = is_moderator
    templates.env.globals["shows_body"] = shows_body
    templates.env.globals["static_url"] = ASSETS.url
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    return templates
