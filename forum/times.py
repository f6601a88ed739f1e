"""How moments read to people: "5 minutes ago", a UTC timestamp, the minutes left."""

from __future__ import annotations

from datetime import UTC, datetime


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


def minutes_left(until: datetime, now: datetime | None = None) -> int:
    """Whole minutes (rounded up) until a moment, at least 1."""
    seconds = int((until - (now or datetime.now(UTC))).total_seconds())
    return max(-(-seconds // 60), 1)
