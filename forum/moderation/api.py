"""JSON API for moderation. Every endpoint checks the caller server-side (401, then 403)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from forum.accounts.standing import is_suspended
from forum.articles.service import article_or_404
from forum.contracts import api, respond
from forum.http import json_errors, require_user
from forum.moderation import bulk, flagged, members, pins, service
from forum.schemas import (
    AuditLog,
    BulkDone,
    BulkRequest,
    Dismissed,
    FlaggedReply,
    FlagOut,
    FlagQueue,
    FlagQueueQuery,
    Judgement,
    LockState,
    LogEntry,
    LogQuery,
    NoFields,
    PinState,
    ReplyState,
    RoleChange,
    Suspension,
    UserState,
)
from forum.urls import reply_permalink
from models import Reply, User

T = TypeVar("T", bound=msgspec.Struct)


def _state(user: User, viewer: User | None) -> UserState:
    return UserState(
        username=user.username,
        role=user.role,
        suspended=is_suspended(user),
        suspended_until=user.suspended_until,
        suspension_reason=(
            user.suspension_reason if members.may_see_suspension_reason(viewer, user) else None
        ),
    )


def _as(schema: type[T], row: object) -> T:
    """A model row as a response schema whose fields it has."""
    return msgspec.convert(row, schema, from_attributes=True)


async def _acted_on(request: Request, action: Callable[..., Awaitable[Reply]]) -> Reply:
    """The reply in the path once action (a service taking the signed-in member, the reply's id
    and the event bus, such as unhide, pin or unpin) has been applied to it."""
    user = await require_user(request)
    return await action(user, request.path_params["reply_id"], bus=request.app.state.events)


@api("Hide a reply (moderators)", body=Judgement, response=ReplyState, errors=(404, 422))
async def hide(request: Request, body: Judgement) -> Response:
    """POST /api/replies/{id}/hide {reason, note?}."""
    user = await require_user(request)
    reply = await service.hide_reply(
        user,
        request.path_params["reply_id"],
        body.reason,
        body.note,
        bus=request.app.state.events,
    )
    return respond(_as(ReplyState, reply))


@api("Unhide a reply (moderators)", body=NoFields, response=ReplyState, errors=(404, 422))
async def unhide(request: Request, body: NoFields) -> Response:
    """POST /api/replies/{id}/unhide."""
    return respond(_as(ReplyState, await _acted_on(request, service.unhide_reply)))


@api(
    "Pin a reply to the top of its thread, in every order (moderators)",
    body=NoFields,
    response=PinState,
    errors=(404, 422),
)
async def pin(request: Request, body: NoFields) -> Response:
    """POST /api/replies/{id}/pin: pinning a pinned reply changes nothing."""
    reply = await _acted_on(request, pins.pin_reply)
    return respond(PinState(id=reply.id, pinned=True))


@api(
    "Put a pinned reply back in its place (moderators)",
    body=NoFields,
    response=PinState,
    errors=(404, 422),
)
async def unpin(request: Request, body: NoFields) -> Response:
    """POST /api/replies/{id}/unpin: unpinning a reply not pinned changes nothing."""
    reply = await _acted_on(request, pins.unpin_reply)
    return respond(PinState(id=reply.id, pinned=False))


@api(
    "Flag a reply for the moderators",
    body=Judgement,
    response=FlagOut,
    status=201,
    errors=(403, 404, 409),
)
async def flag(request: Request, body: Judgement) -> Response:
    """POST /api/replies/{id}/flags {reason, note?}: 201, or 409 when flagged before."""
    user = await require_user(request)
    try:
        created = await service.flag_reply(
            user,
            request.path_params["reply_id"],
            body.reason,
            body.note,
            bus=request.app.state.events,
        )
    except service.AlreadyFlagged as already:
        return json_errors({"reply": already.message}, status_code=409)
    return respond(_as(FlagOut, created), 201)


@api("Dismiss a reply's flags (moderators)", body=NoFields, response=Dismissed, errors=(404,))
async def dismiss(request: Request, body: NoFields) -> Response:
    """POST /api/replies/{id}/flags/dismiss: clear the reply's open flags."""
    user = await require_user(request)
    count = await service.dismiss_flags(
        user, request.path_params["reply_id"], bus=request.app.state.events
    )
    return respond(Dismissed(count))


@api(
    "The flag queue, most-flagged first, a chunk at a time (moderators)",
    query=FlagQueueQuery,
    response=FlagQueue,
)
async def flags(request: Request, query: FlagQueueQuery) -> Response:
    """GET /api/mod/flags?limit=&cursor=: a chunk of the flag queue and the queue's total."""
    moderator = await require_user(request)
    base = request.app.state.settings.base_url
    limit = query.limit or flagged.QUEUE_PAGE
    after = flagged.QueuePosition.parse(query.cursor)
    # One more than asked: whether a next chunk exists.
    items = await flagged.flag_queue(moderator, limit + 1, after=after)
    more, items = len(items) > limit, items[:limit]
    queue = [
        FlaggedReply(
            reply_id=item.reply.id,
            article=item.reply.article.slug,
            author=item.reply.author.username,
            body_html=item.reply.html,
            status=item.reply.status,
            flag_count=item.flag_count,
            reasons=item.reasons,
            url=base + reply_permalink(item.reply.article.slug, item.reply.id),
        )
        for item in items
    ]
    total = await flagged.flagged_reply_count(moderator)
    next_cursor = str(items[-1].position) if more else None
    return respond(FlagQueue(queue, total, next_cursor))


@api(
    "Hide, dismiss or suspend the author of several flagged replies at once (moderators)",
    body=BulkRequest,
    response=BulkDone,
    errors=(403, 404),
)
async def bulk_action(request: Request, body: BulkRequest) -> Response:
    """POST /api/mod/flags/bulk {action, reply_ids | author, reason?, note?, until?,
    hide_replies?}: one transaction, an audit entry per reply."""
    moderator = await require_user(request)
    done = await bulk.bulk_act(
        moderator,
        body.action,
        reply_ids=body.reply_ids,
        author=body.author,
        reason=body.reason,
        note=body.note,
        until=body.until,
        hide_replies=body.hide_replies,
        bus=request.app.state.events,
    )
    total = await flagged.flagged_reply_count(moderator)
    return respond(BulkDone(done.action, done.handled, done.skipped, done.suspended, total))


@api("The audit log, newest first (moderators)", query=LogQuery, response=AuditLog)
async def log(request: Request, query: LogQuery) -> Response:
    """GET /api/mod/log?action=&actor=: the audit log, newest first."""
    entries = await service.audit_log(
        await require_user(request),
        action=query.action or "",
        actor=query.actor or "",
    )
    return respond(AuditLog([_as(LogEntry, entry) for entry in entries]))


@api("Lock (no new replies) or unlock a thread (moderators)", body=NoFields, response=LockState)
async def lock(request: Request, body: NoFields) -> Response:
    """POST /api/articles/{slug}/lock and /unlock."""
    user = await require_user(request)
    article = await article_or_404(request.path_params["slug"])
    locked = request.url.path.endswith("/lock")
    await service.set_lock(user, article, locked, bus=request.app.state.events)
    return respond(LockState(article.slug, locked))


@api("Suspend a member (moderators)", body=Suspension, response=UserState, errors=(403, 404))
async def suspend(request: Request, body: Suspension) -> Response:
    """POST /api/users/{username}/suspend {reason, until?, hide_replies?}."""
    user = await require_user(request)
    target = await members.suspend_user(
        user,
        request.path_params["username"],
        body.reason,
        body.until,
        body.hide_replies,
        bus=request.app.state.events,
    )
    return respond(_state(target, user))


@api("Lift a suspension (moderators)", body=NoFields, response=UserState, errors=(403, 404))
async def unsuspend(request: Request, body: NoFields) -> Response:
    """POST /api/users/{username}/unsuspend."""
    user = await require_user(request)
    target = await members.unsuspend_user(
        user, request.path_params["username"], bus=request.app.state.events
    )
    return respond(_state(target, user))


@api("Set a member's role (admins)", body=RoleChange, response=UserState, errors=(404,))
async def set_role(request: Request, body: RoleChange) -> Response:
    """POST /api/users/{username}/role {role}: admins appoint and demote moderators."""
    user = await require_user(request)
    target = await members.set_role(
        user,
        request.path_params["username"],
        body.role,
        bus=request.app.state.events,
    )
    return respond(_state(target, user))
