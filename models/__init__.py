"""Tortoise ORM models: tables only, no business rules."""

from models.articles import Article
from models.live import EventKind, LiveEvent
from models.moderation import AuditAction, AuditEntry, Flag
from models.notifications import (
    AccountMail,
    AccountMailKind,
    MailStatus,
    Notification,
    NotificationKind,
    OutboxItem,
    Subscription,
)
from models.replies import HideReason, Reply, ReplyRevision, ReplyStatus, ReplyVote
from models.users import AccountToken, Mute, Role, Session, TokenPurpose, User
from models.visits import ThreadVisit

__all__ = [
    "AccountMail",
    "AccountMailKind",
    "AccountToken",
    "Article",
    "AuditAction",
    "AuditEntry",
    "EventKind",
    "Flag",
    "HideReason",
    "LiveEvent",
    "MailStatus",
    "Mute",
    "Notification",
    "NotificationKind",
    "OutboxItem",
    "Reply",
    "ReplyRevision",
    "ReplyStatus",
    "ReplyVote",
    "Role",
    "Session",
    "Subscription",
    "ThreadVisit",
    "TokenPurpose",
    "User",
]
