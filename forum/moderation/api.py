"""JSON API for moderation. Every endpoint checks the caller server-side (401, then 403)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forum.accounts.identity import check_csrf, current_user
from forum.accounts.standing import is_suspended
from forum.articles.service import article_or_404
from forum.errors import NotFound
from forum.http import json_body, json_errors, read_body, require_user
from forum.moderation import service
from forum.urls import reply_permalink
from forum.validation import ValidationError
from models import AuditEntry, Reply, User


async def _body(request: Request) -> dict[str, object]:
    """The JSON body if any; an empty body is an empty object. Checks the CSRF header."""
    if not await read_body(request):
        check_csrf(request, None)
        return {}
    return await json_body(request)


def _reply_state(reply: Reply) -> dict[str, object]:
    return {
        "id": reply.id,
        "status": reply.status.value,
        "hidden_reason": reply.hidden_reason.value if reply.hidden_reason else None,
        "hidden_note": reply.hidden_note,
    }


async def hide(request: Request) -> Response:
    """POST /api/replies/{id}/hide {reason, note?}."""
    user = await require_user(request)
    data = await _body(request)
    reply = await service.hide_reply(
        user,
        request.path_params["reply_id"],
        data.get("reason"),
        data.get("note"),
        bus=request.app.state.events,
    )
    return JSONResponse(_reply_state(reply))


async def unhide(request: Request) -> Response:
    """POST /api/replies/{id}/unhide."""
    user = await require_user(request)
    await _body(request)
    reply = await service.unhide_reply(
        user,
        request.path_params["reply_id"],
        bus=request.app.state.events,
    )
    return JSONResponse(_reply_state(reply))


async def flag(request: Request) -> Response:
    """POST /api/replies/{id}/flags {reason, note?}: 201, or 409 when flagged before."""
    user = await require_user(request)
    data = await _body(request)
    try:
        created = await service.flag_reply(
            user,
            request.path_params["reply_id"],
            data.get("reason"),
            data.get("note"),
            bus=request.app.state.events,
        )
    except service.AlreadyFlagged as already:
        return json_errors({"reply": already.message}, status_code=409)
    return JSONResponse(
        {"id": created.id, "reply_id": created.reply_id, "reason": created.reason.value},
        status_code=201,
    )


async def dismiss(request: Request) -> Response:
    """POST /api/replies/{id}/flags/dismiss: clear the reply's open flags."""
    user = await require_user(request)
    await _body(request)
    count = await service.dismiss_flags(
        user, request.path_params["reply_id"], bus=request.app.state.events
    )
    return JSONResponse({"dismissed": count})


async def flags(request: Request) -> Response:
    """GET /api/mod/flags: the flag queue, most-flagged first."""
    base = request.app.state.settings.base_url
    items = await service.flag_queue(await require_user(request))
    return JSONResponse(
        {
            "flags": [
                {
                    "reply_id": item.reply.id,
                    "article": item.reply.article.slug,
                    "author": item.reply.author.username,
                    "body_html": item.reply.html,
                    "status": item.reply.status.value,
                    "flag_count": item.flag_count,
                    "reasons": item.reasons,
                    "url": base + reply_permalink(item.reply.article.slug, item.reply.id),
                }
                for item in items
            ]
        }
    )


def _entry_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "actor": entry.actor_name,
        "action": entry.action.value,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "target": entry.target_label,
        "reason": entry.reason,
        "note": entry.note,
        "created_at": entry.created_at.isoformat(),
    }


async def log(request: Request) -> Response:
    """GET /api/mod/log?action=&actor=: the audit log, newest first."""
    entries = await service.audit_log(
        await require_user(request),
        action=request.query_params.get("action", ""),
        actor=request.query_params.get("actor", "")[:30],
    )
    return JSONResponse({"entries": [_entry_json(entry) for entry in entries]})


async def lock(request: Request) -> Response:
    """POST /api/articles/{slug}/lock and /unlock."""
    user = await require_user(request)
    await _body(request)
    article = await article_or_404(request.path_params["slug"])
    locked = request.url.path.endswith("/lock")
    await service.set_lock(user, article, locked, bus=request.app.state.events)
    return JSONResponse({"slug": article.slug, "locked": locked})


def _user_state(user: User, viewer: User | None) -> dict[str, object]:
    return {
        "username": user.username,
        "role": user.role.value,
        "suspended": is_suspended(user),
        "suspended_until": user.suspended_until.isoformat() if user.suspended_until else None,
        "suspension_reason": (
            user.suspension_reason if service.may_see_suspension_reason(viewer, user) else None
        ),
    }


async def suspend(request: Request) -> Response:
    """POST /api/users/{username}/suspend {reason, until?, hide_replies?}."""
    user = await require_user(request)
    data = await _body(request)
    hide_replies = data.get("hide_replies", False)
    if not isinstance(hide_replies, bool):
        raise ValidationError({"hide_replies": "hide_replies must be true or false."})
    target = await service.suspend_user(
        user,
        request.path_params["username"],
        data.get("reason"),
        data.get("until"),
        hide_replies,
        bus=request.app.state.events,
    )
    return JSONResponse(_user_state(target, user))


async def unsuspend(request: Request) -> Response:
    """POST /api/users/{username}/unsuspend."""
    user = await require_user(request)
    await _body(request)
    target = await service.unsuspend_user(user, request.path_params["username"])
    return JSONResponse(_user_state(target, user))


async def set_role(request: Request) -> Response:
    """POST /api/users/{username}/role {role}: admins appoint and demote moderators."""
    user = await require_user(request)
    data = await _body(request)
    target = await service.set_role(
        user,
        request.path_params["username"],
        data.get("role"),
        bus=request.app.state.events,
    )
    return JSONResponse(_user_state(target, user))


async def user(request: Request) -> Response:
    """GET /api/users/{username}: role and suspension state."""
    target = await User.get_or_none(username_key=request.path_params["username"].lower())
    if target is None:
        raise NotFound("There is no such user.")
    return JSONResponse(_user_state(target, await current_user(request)))
