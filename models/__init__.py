"""Tortoise ORM models: tables only, no business rules."""

from models.articles import Article
from models.replies import Reply, ReplyStatus
from models.users import Session, User

__all__ = ["Article", "Reply", "ReplyStatus", "Session", "User"]
