"""Moderation in the page: hide, unhide, flag, lock, the flag queue, the audit log, suspensions
and roles (their forms are on the member's page, forum.profiles.web)."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts.identity import current_user
from forum.articles.service import article_or_404
from forum.boundary import parse_id
from forum.errors import NotFound
from forum.http import is_htmx, render, require_user, verified_form
from forum.moderation import members, pins, service
from forum.moderation.queue_web import back_to_queue, queue_page
from forum.pages import reply_from_path
from forum.profiles import service as profiles
from forum.replies.pinned import child_counts
from forum.replies.thread import ReplyNode
from forum.urls import article_path, article_url, reply_permalink
from forum.validation import ValidationError
from forum.visibility import shows_body
from models import AuditAction, HideReason, User

REASONS = [reason.value for reason in HideReason]


async def _reply_main(
    request: Request, article: Any, reply: Any, *, as_partial: bool = False
) -> Response:
    """The reply as now shown, focused; as_partial for a request that targets something else."""
    viewer = await current_user(request)
    await reply.fetch_related("author")
    node = ReplyNode(reply, shows_body(reply, viewer))
    context = {"article": article, "node": node, "as_partial": as_partial}
    return await render(
        request, "_reply_main.html", context, headers={"X-Focus": f"reply-{reply.id}-main"}
    )


async def hide(request: Request) -> Response:
    """Hide a reply with a reason: the form (in place with htmx), then the reply as now shown."""
    article, reply = await reply_from_path(request)
    service.require_moderator(await current_user(request))
    context: dict[str, Any] = {"article": article, "reply": reply, "reasons": REASONS}
    # Opened from the moderators' queue: it goes back there (to the same page) when done.
    from_queue = request.query_params.get("queue_page")
    context["queue_page"] = queue_page(from_queue) if from_queue else None
    template = "_hide_form.html" if is_htmx(request) else "moderate_reply.html"
    if request.method == "GET":
        return await render(
            request, template, {**context, "form": {}, "errors": {}, "action": "hide"}
        )
    form = await verified_form(request)
    back = back_to_queue(form)
    context["queue_page"] = form.get("queue_page") if back else None
    try:
        hidden = await service.hide_reply(
            await current_user(request),
            reply.id,
            form.get("reason"),
            form.get("note"),
            bus=request.app.state.events,
        )
    except ValidationError as error:
        context.update(form=dict(form), errors=error.errors, action="hide")
        # Refused: the form again in its place (the form asks htmx to delete it on success).
        headers = {"HX-Reswap": "outerHTML"} if is_htmx(request) else None
        return await render(request, template, context, status_code=422, headers=headers)
    if not is_htmx(request):
        return RedirectResponse(back or reply_permalink(article.slug, hidden.id), status_code=303)
    if back:  # the item leaves the queue at once, whether or not the live frame came first
        return Response(
            f'<hx-partial hx-target="#flag-item-{hidden.id}" hx-swap="delete"></hx-partial>',
            media_type="text/html",
        )
    return await _reply_main(request, article, hidden, as_partial=True)


async def unhide(request: Request) -> Response:
    """Show a hidden reply again (a confirmation page without JS)."""
    article, reply = await reply_from_path(request)
    moderator = service.require_moderator(await current_user(request))
    if request.method == "GET":
        context = {"article": article, "reply": reply, "action": "unhide", "form": {}, "errors": {}}
        return await render(request, "moderate_reply.html", context)
    await verified_form(request)
    shown = await service.unhide_reply(
        moderator,
        reply.id,
        bus=request.app.state.events,
    )
    if not is_htmx(request):
        return RedirectResponse(reply_permalink(article.slug, shown.id), status_code=303)
    return await _reply_main(request, article, shown)


async def pin(request: Request) -> Response:
    """Pin a reply to the top of its thread, or unpin it (a confirmation page without JS)."""
    article, reply = await reply_from_path(request)
    moderator = service.require_moderator(await current_user(request))
    action = "unpin" if request.url.path.endswith("/unpin") else "pin"
    if request.method == "GET":
        context = {"article": article, "reply": reply, "action": action, "form": {}, "errors": {}}
        return await render(request, "moderate_reply.html", context)
    await verified_form(request)
    change = pins.unpin_reply if action == "unpin" else pins.pin_reply
    moved = await change(moderator, reply.id, bus=request.app.state.events)
    if not is_htmx(request):
        return RedirectResponse(f"{article_url(article.slug)}#reply-{moved.id}", status_code=303)
    await moved.fetch_related("author")
    node = ReplyNode(moved, shows_body(moved, moderator))
    node.child_count = (await child_counts({moved.id}, moderator)).get(moved.id, 0)
    # The thread's page moves the reply (as the live frame does); elsewhere (a permalink) the
    # reply stays where it is, its mark and link changed.
    current = urlsplit(request.headers.get("HX-Current-URL", "")).path
    context = {"article": article, "node": node, "on_thread": current == article_path(article.slug)}
    focus = {"X-Focus": f"reply-{moved.id}-main"}
    return await render(request, "_pin_moved.html", context, headers=focus)


async def flag(request: Request) -> Response:
    """Report a reply to the moderators."""
    article, reply = await reply_from_path(request)
    service.check_flaggable(reply, await require_user(request))
    context: dict[str, Any] = {"article": article, "reply": reply, "reasons": REASONS}
    template = "_flag_form.html" if is_htmx(request) else "moderate_reply.html"
    if request.method == "GET":
        return await render(
            request, template, {**context, "form": {}, "errors": {}, "action": "flag"}
        )
    form = await verified_form(request)
    try:
        await service.flag_reply(
            await current_user(request),
            reply.id,
            form.get("reason"),
            form.get("note"),
            bus=request.app.state.events,
        )
    except ValidationError as error:
        context.update(form=dict(form), errors=error.errors, action="flag")
        return await render(request, template, context, status_code=422)
    except service.AlreadyFlagged as already:
        context.update(form=dict(form), errors={"reason": already.message}, action="flag")
        return await render(request, template, context, status_code=409)
    if not is_htmx(request):
        return RedirectResponse(reply_permalink(article.slug, reply.id), status_code=303)
    return Response(
        '<p class="form-note" role="status">Thank you: the moderators will look at it.</p>',
        media_type="text/html",
    )


async def dismiss(request: Request) -> Response:
    """Dismiss a reply's flags from the queue."""
    _, reply = await reply_from_path(request)
    form = await verified_form(request)
    await service.dismiss_flags(await current_user(request), reply.id, bus=request.app.state.events)
    if is_htmx(request):
        return Response("", media_type="text/html")
    return RedirectResponse(back_to_queue(form) or "/mod/flags", status_code=303)


async def lock(request: Request) -> Response:
    """Lock or unlock the thread (the path ends in /lock or /unlock)."""
    article = await article_or_404(request.path_params["slug"])
    await verified_form(request)
    locked = request.url.path.endswith("/lock")
    await service.set_lock(
        await current_user(request), article, locked, bus=request.app.state.events
    )
    return RedirectResponse(f"/a/{article.slug}", status_code=303)


async def compose(request: Request) -> Response:
    """The top-level reply area (form, sign-in prompt or lock notice), e.g. after an unlock."""
    article = await article_or_404(request.path_params["slug"])
    return await render(request, "_compose.html", {"article": article, "form": {}, "errors": {}})


async def audit_log(request: Request) -> Response:
    """Every moderator action, newest first, filtered by action and moderator."""
    action = request.query_params.get("action", "")
    actor = request.query_params.get("actor", "")[:30]
    entries = await service.audit_log(await current_user(request), action=action, actor=actor)
    context = {"entries": entries, "action": action, "actor": actor, "actions": list(AuditAction)}
    return await render(request, "mod_log.html", context)


async def _profile(request: Request) -> User:
    user = await User.get_or_none(username_key=request.path_params["username"].lower())
    if user is None:
        raise NotFound("There is no such user.")
    return user


async def suspend(request: Request) -> Response:
    """Suspend a member (for some days or for good), optionally hiding all their replies."""
    user = await _profile(request)
    form = await verified_form(request)
    try:
        until = members.suspension_end(form.get("days"))
        await members.suspend_user(
            await current_user(request),
            user.username,
            form.get("reason"),
            until.isoformat() if until else None,
            form.get("hide_replies"),
            bus=request.app.state.events,
        )
    except ValidationError as error:
        if is_htmx(request):  # in place, from the flag queue
            context = {"member": user, "form": dict(form), "errors": error.errors}
            context["queue_item"] = parse_id(form.get("queue_item")) or ""
            return await render(request, "_suspend_form.html", context, status_code=422)
        # Refused on the member's page: the page again, the form with what was typed.
        shown = await profiles.profile(
            user,
            await current_user(request),
            before=None,
            limit=request.app.state.settings.page_size,
        )
        context = {"profile": shown, "member": user, "form": dict(form), "errors": error.errors}
        return await render(request, "user.html", context, status_code=422)
    if is_htmx(request):
        hidden = " and their replies are hidden" if form.get("hide_replies") else ""
        return Response(
            f'<p class="form-note" role="status">{escape(user.username)} is suspended{hidden}.</p>',
            media_type="text/html",
        )
    return RedirectResponse(back_to_queue(form) or f"/u/{user.username}", status_code=303)


async def unsuspend(request: Request) -> Response:
    """Lift a member's suspension."""
    user = await _profile(request)
    await verified_form(request)
    await members.unsuspend_user(
        await current_user(request), user.username, bus=request.app.state.events
    )
    return RedirectResponse(f"/u/{user.username}", status_code=303)


async def set_role(request: Request) -> Response:
    """An admin appoints or demotes a moderator."""
    user = await _profile(request)
    form = await verified_form(request)
    await members.set_role(
        await require_user(request),
        user.username,
        form.get("role"),
        bus=request.app.state.events,
    )
    return RedirectResponse(f"/u/{user.username}", status_code=303)
