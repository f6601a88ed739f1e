"""Tortoise ORM models: tables only, no business rules."""

from models.articles import Article
from models.live import EventKind, LiveEvent
from models.replies import Reply, ReplyStatus
from models.users import Session, User

__all__ = ["Article", "EventKind", "LiveEvent", "Reply", "ReplyStatus", "Session", "User"]
