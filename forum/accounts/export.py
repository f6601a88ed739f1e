"""Everything the forum holds about an account, for its owner to take away (never a secret:
no password hash, token, session token or feed token)."""

from __future__ import annotations

from typing import Any

from forum.accounts.muting import muted_members
from models import Flag, Notification, Reply, ReplyRevision, Session, Subscription, User


async def export_account(user: User) -> dict[str, Any]:
    """The account's data as plain values: profile, replies with their text and earlier texts,
    follows, notifications, flags made, sessions (when, not their tokens) and the members it
    muted."""
    replies = await Reply.filter(author_id=user.id).order_by("id").select_related("article")
    revisions: dict[int, list[dict[str, Any]]] = {}
    earlier = ReplyRevision.filter(reply__author_id=user.id).order_by("reply_id", "version")
    for row in await earlier:
        revisions.setdefault(row.reply_id, []).append(
            {
                "version": row.version,
                "body": row.source,
                "body_html": row.html,
                "written_at": row.written_at,
            }
        )
    follows = await Subscription.filter(user_id=user.id).order_by("id").select_related("article")
    notifications = await Notification.filter(user_id=user.id).order_by("id")
    flags = await Flag.filter(user_id=user.id).order_by("id")
    sessions = await Session.filter(user_id=user.id).order_by("id")
    muted = await muted_members(user)
    return {
        "profile": {
            "username": user.username,
            "email": user.email,
            "email_verified": user.email is not None and user.email_verified_at is not None,
            "role": user.role,
            "created_at": user.created_at,
            "suspended_until": user.suspended_until,
            "notify_replies": user.notify_replies,
            "email_notifications": user.email_notifications,
        },
        "replies": [
            {
                "id": reply.id,
                "article": reply.article.slug,
                "parent_id": reply.parent_id,
                "status": reply.status,
                # Emptied when its author deleted it: the forum no longer has it.
                "body": reply.source,
                "body_html": reply.html,
                "created_at": reply.created_at,
                "edited_at": reply.edited_at,
                "revisions": revisions.get(reply.id, []),
            }
            for reply in replies
        ],
        "follows": [
            {"article": sub.article.slug, "following": sub.active, "since": sub.created_at}
            for sub in follows
        ],
        "notifications": [
            {
                "id": row.id,
                "kind": row.kind,
                "reply_id": row.reply_id,
                "created_at": row.created_at,
                "read_at": row.read_at,
            }
            for row in notifications
        ],
        "flags": [
            {
                "reply_id": flag.reply_id,
                "reason": flag.reason,
                "note": flag.note,
                "created_at": flag.created_at,
                "resolved": flag.resolved_at is not None,
            }
            for flag in flags
        ],
        "sessions": [
            {"created_at": session.created_at, "expires_at": session.expires_at}
            for session in sessions
        ],
        "muted": [{"username": member.username, "since": member.since} for member in muted],
    }
