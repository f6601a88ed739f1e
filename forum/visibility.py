"""The one place that decides who may see which reply.

Every output path (thread page, HTMX fragments, JSON API, and later live events, replays, feeds
and emails) asks these functions; none filters on its own.
"""

from __future__ import annotations

from tortoise.expressions import Q

from models import Reply, ReplyStatus, User

#: Kinds of viewer that may see a thread differently; live events are rendered once per kind.
VIEWER_KINDS = ("reader",)


def viewer_kind(viewer: User | None) -> str:
    """Which kind of viewer this is, for choosing the live frame rendered for that kind."""
    return "reader"


def representative_viewer(kind: str) -> User | None:
    """A viewer standing for everyone of that kind when rendering once for all of them."""
    return None


def thread_rows(viewer: User | None) -> Q:
    """Replies that may appear in viewer's thread at all, either whole or as a stub."""
    return Q(status__in=[ReplyStatus.VISIBLE, ReplyStatus.DELETED])


def counted_replies(viewer: User | None = None) -> Q:
    """Replies that count in the numbers shown to viewer (reply counts, "show N more")."""
    return Q(status=ReplyStatus.VISIBLE)


def shows_body(reply: Reply, viewer: User | None) -> bool:
    """Whether viewer sees the author and text, or only a stub that keeps the tree's shape."""
    return reply.status == ReplyStatus.VISIBLE
