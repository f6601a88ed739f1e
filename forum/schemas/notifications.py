"""The JSON API's schemas of notifications and follows."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from forum.schemas.base import MARK_MAX, Id, Moment, Request, Response
from models import NotificationKind

# Notifications -----------------------------------------------------------------------------


class Following(Response):
    """Whether the caller follows the thread now."""

    article: str
    following: bool


class NotificationOut(Response):
    """A reply someone should know about."""

    id: int
    kind: NotificationKind
    reply_id: int
    author: str
    article: str
    url: str
    created_at: Moment
    read: bool


class Notifications(Response):
    """The unread count and the newest notifications."""

    unread: int
    items: list[NotificationOut]


class MarkRead(Request):
    """Which notifications to mark read."""

    ids: (
        Annotated[
            list[Id],
            Meta(
                max_length=MARK_MAX,
                description="Omitted or null: all of them.",
                extra={"message": "ids must be a list of notification ids."},
            ),
        ]
        | None
    ) = None


class Marked(Response):
    """How many were marked, and how many are still unread."""

    marked: int
    unread: int
