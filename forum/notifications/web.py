"""Notifications in the page and the API: the bell's list, follow buttons, one-click
unsubscribe (RFC 8058) and Atom feeds."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts.identity import check_csrf
from forum.accounts.standing import is_suspended
from forum.articles.service import article_or_404
from forum.boundary import parse_id
from forum.contracts import api, respond
from forum.errors import NotFound
from forum.http import is_htmx, render, require_user, verified_form
from forum.notifications import feeds, service
from forum.notifications.tokens import read_unsubscribe_token
from forum.schemas import Following, Marked, MarkRead, NotificationOut, Notifications
from forum.urls import reply_permalink
from forum.validation import ValidationError
from models import Article, User

ATOM = "application/atom+xml; charset=utf-8"


async def _follow(request: Request, follow: bool) -> tuple[User, Article]:
    user = await require_user(request)
    article = await article_or_404(request.path_params["slug"])
    await service.set_following(user, article, follow, request.app.state.events)
    return user, article


async def follow(request: Request) -> Response:
    """Follow or stop following a thread (the path ends in /follow or /unfollow)."""
    await verified_form(request)
    following = request.url.path.endswith("/follow")
    _, article = await _follow(request, following)
    if is_htmx(request):
        return await render(
            request, "_follow_button.html", {"article": article, "follows": following}
        )
    return RedirectResponse(f"/a/{article.slug}", status_code=303)


async def notifications_page(request: Request) -> Response:
    """The bell's list: newest first, each linking to the reply's permalink."""
    user = await require_user(request)
    unread, items = await service.notifications_for(user)
    return await render(request, "notifications.html", {"unread": unread, "items": items})


async def open_notification(request: Request) -> Response:
    """Follow a notification: it is read now, and the reader lands on the reply."""
    user = await require_user(request)
    reply = await service.open_notification(
        user, request.path_params["notification_id"], request.app.state.events
    )
    return RedirectResponse(reply_permalink(reply.article.slug, reply.id), status_code=303)


async def mark_read_form(request: Request) -> Response:
    """Mark one notification (field id) or all of them read."""
    user = await require_user(request)
    form = await verified_form(request)
    raw = form.get("id")
    ids = None
    if raw:  # without an id: all of them
        notification_id = parse_id(raw)
        if notification_id is None:
            raise ValidationError({"id": "That is not a notification."})
        ids = [notification_id]
    await service.mark_read(user, ids, request.app.state.events)
    return RedirectResponse("/notifications", status_code=303)


@api("Unread count and newest notifications", response=Notifications)
async def api_notifications(request: Request) -> Response:
    """GET /api/notifications: {unread, items}."""
    user = await require_user(request)
    unread, items = await service.notifications_for(user)
    base = request.app.state.settings.base_url
    listed = [
        NotificationOut(
            id=item.notification.id,
            kind=item.notification.kind,
            reply_id=item.reply.id,
            author=item.reply.author.username,
            article=item.reply.article.slug,
            url=base + reply_permalink(item.reply.article.slug, item.reply.id),
            created_at=item.notification.created_at,
            read=item.notification.read_at is not None,
        )
        for item in items
    ]
    return respond(Notifications(unread, listed))


@api("Mark notifications read (all when ids is omitted)", body=MarkRead, response=Marked)
async def api_mark_read(request: Request, body: MarkRead) -> Response:
    """POST /api/notifications/read {ids?}: mark these (or all) read."""
    user = await require_user(request)
    count = await service.mark_read(user, body.ids, request.app.state.events)
    return respond(Marked(count, await service.unread_count(user)))


@api("Follow (POST) or leave (DELETE) a thread", response=Following)
async def api_subscription(request: Request) -> Response:
    """POST (follow) or DELETE (leave) /api/articles/{slug}/subscription."""
    await require_user(request)
    check_csrf(request, None)
    following = request.method == "POST"
    _, article = await _follow(request, following)
    return respond(Following(article.slug, following))


async def unsubscribe(request: Request) -> Response:
    """One-click unsubscribe from a mail (RFC 8058): leave a thread, or stop all mail, as the
    token says. GET asks, on a page of the site; POST (a mail provider's, no cookies, no CSRF
    token: the signed token is the permission) does it."""
    settings = request.app.state.settings
    target = read_unsubscribe_token(settings.secret_key, request.path_params["token"])
    if target is None:
        return await render(request, "unsubscribe.html", {"invalid": True}, status_code=400)
    article = None
    if target.article_id is not None:
        article = await Article.get_or_none(id=target.article_id)
        if article is None:
            raise NotFound("That discussion no longer exists.")
    done = request.method == "POST"
    if done and article is not None:
        await service.leave_thread(target.user_id, article.id)
    elif done and not await service.stop_all_mail(target.user_id):
        raise NotFound("That account no longer exists.")
    return await render(request, "unsubscribe.html", {"article": article, "done": done})


async def thread_feed(request: Request) -> Response:
    """GET /a/{slug}/feed.atom: the thread's newest replies."""
    article = await article_or_404(request.path_params["slug"])
    body = await feeds.thread_feed(article, request.app.state.settings.base_url)
    return Response(body, media_type=ATOM)


async def private_feed(request: Request) -> Response:
    """GET /feeds/{token}/replies.atom: one reader's private feed (the token is the secret)."""
    token = request.path_params["token"]
    user = await User.get_or_none(feed_token=token) if len(token) <= 64 else None
    # A suspended member's feed stops with the rest of their access.
    if user is None or is_suspended(user):
        raise NotFound("There is no feed at this address (it may have been renewed).")
    body = await feeds.replies_to_me_feed(user, request.app.state.settings.base_url)
    return Response(body, media_type=ATOM)


async def renew_feed(request: Request) -> Response:
    """Create (or replace, revoking the old) the private feed address."""
    user = await require_user(request)
    await verified_form(request)
    await feeds.renew_feed_token(user)
    return RedirectResponse("/notifications", status_code=303)


async def reply_setting(request: Request) -> Response:
    """Turn notices of replies to one's own replies on or off."""
    user = await require_user(request)
    form = await verified_form(request)
    user.notify_replies = form.get("notify_replies") == "on"
    await user.save(update_fields=["notify_replies"])
    return RedirectResponse("/notifications", status_code=303)


async def page_extras(viewer: User) -> dict[str, object]:
    """What every full page's header shows a signed-in viewer of notifications: the bell."""
    return {"unread_notifications": await service.unread_count(viewer)}
