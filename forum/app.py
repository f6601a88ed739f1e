"""The application factory: the whole route table, the lifespan and the error pages."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from forum import openapi
from forum.accounts import api as accounts_api
from forum.accounts import web as accounts_web
from forum.accounts.identity import CsrfError, VisitorCookieMiddleware
from forum.articles import api as articles_api
from forum.articles import web as articles_web
from forum.articles.service import load_seed_articles
from forum.db import close_database, open_database
from forum.errors import Forbidden, NotFound, SignInRequired
from forum.http import PayloadTooLarge, UnsupportedMediaType, is_htmx, json_errors, render
from forum.live.accounts import LiveAccounts
from forum.live.backends import backend_for
from forum.live.endpoint import thread_socket
from forum.live.hub import Hub
from forum.live.moderation_socket import moderation_socket
from forum.live.presence import Presence
from forum.live.readers import Readers
from forum.live.render import FrameRenderer
from forum.live.threads import LiveThreads
from forum.live.writer import DirectWriteMiddleware
from forum.moderation import api as moderation_api
from forum.moderation import web as moderation_web
from forum.moderation.queue import render_flag_queue
from forum.notifications import web as notifications_web
from forum.notifications.notifier import AppNotifier
from forum.notifications.sender import MailSender, sender_rules, transport_for
from forum.ratelimits import RateLimited, RateLimiter
from forum.replies import api as replies_api
from forum.replies import web as replies_web
from forum.settings import PROJECT_ROOT, Settings, load_settings
from forum.templating import build_templates
from forum.validation import ValidationError

log = logging.getLogger("forum")

REPLY = "/a/{slug}/r/{reply_id:int}"


def _routes() -> list[Route | WebSocketRoute | Mount]:
    return [
        Route("/", articles_web.index, name="index"),
        Route("/a/{slug}", articles_web.article_page, name="article"),
        Route("/a/{slug}/replies", replies_web.create_reply, methods=["POST"]),
        WebSocketRoute("/a/{slug}/live", thread_socket, name="live"),
        Route(REPLY, replies_web.permalink, name="reply"),
        Route(REPLY + "/reply", replies_web.reply_form),
        Route(REPLY + "/edit", replies_web.edit_reply, methods=["GET", "POST"]),
        Route(REPLY + "/delete", replies_web.delete_reply, methods=["GET", "POST"]),
        Route(REPLY + "/hide", moderation_web.hide, methods=["GET", "POST"]),
        Route(REPLY + "/unhide", moderation_web.unhide, methods=["GET", "POST"]),
        Route(REPLY + "/flag", moderation_web.flag, methods=["GET", "POST"]),
        Route(REPLY + "/dismiss", moderation_web.dismiss, methods=["POST"]),
        Route("/a/{slug}/compose", moderation_web.compose),
        Route("/a/{slug}/lock", moderation_web.lock, methods=["POST"]),
        Route("/a/{slug}/unlock", moderation_web.lock, methods=["POST"]),
        Route("/mod/flags", moderation_web.flag_queue),
        Route("/mod/log", moderation_web.audit_log),
        WebSocketRoute("/mod/live", moderation_socket),
        Route("/u/{username}", moderation_web.profile),
        Route("/u/{username}/suspend", moderation_web.suspend, methods=["POST"]),
        Route("/u/{username}/unsuspend", moderation_web.unsuspend, methods=["POST"]),
        Route("/u/{username}/role", moderation_web.set_role, methods=["POST"]),
        Route("/a/{slug}/follow", notifications_web.follow, methods=["POST"]),
        Route("/a/{slug}/unfollow", notifications_web.follow, methods=["POST"]),
        Route("/a/{slug}/feed.atom", notifications_web.thread_feed),
        Route("/feeds/{token}/replies.atom", notifications_web.private_feed),
        Route("/notifications", notifications_web.notifications_page),
        Route("/notifications/read", notifications_web.mark_read_form, methods=["POST"]),
        Route("/notifications/feed", notifications_web.renew_feed, methods=["POST"]),
        Route("/notifications/settings", notifications_web.reply_setting, methods=["POST"]),
        Route("/unsubscribe/{token}", notifications_web.unsubscribe, methods=["GET", "POST"]),
        Route("/register", accounts_web.register, methods=["GET", "POST"]),
        Route("/login", accounts_web.login, methods=["GET", "POST"]),
        Route("/logout", accounts_web.logout, methods=["POST"]),
        Route("/api/openapi.json", openapi.openapi_document),
        Route("/api/accounts", accounts_api.create_account, methods=["POST"]),
        Route("/api/session", accounts_api.create_session, methods=["POST"]),
        Route("/api/session", accounts_api.delete_session, methods=["DELETE"]),
        Route("/api/articles", articles_api.articles),
        Route("/api/articles/{slug}", articles_api.article),
        Route("/api/articles/{slug}/replies", replies_api.list_replies, methods=["GET"]),
        Route("/api/articles/{slug}/replies", replies_api.create_reply, methods=["POST"]),
        Route("/api/replies/{reply_id:int}", replies_api.get_reply, methods=["GET"]),
        Route("/api/replies/{reply_id:int}", replies_api.update_reply, methods=["PATCH"]),
        Route("/api/replies/{reply_id:int}", replies_api.delete_reply, methods=["DELETE"]),
        Route("/api/replies/{reply_id:int}/hide", moderation_api.hide, methods=["POST"]),
        Route("/api/replies/{reply_id:int}/unhide", moderation_api.unhide, methods=["POST"]),
        Route("/api/replies/{reply_id:int}/flags", moderation_api.flag, methods=["POST"]),
        Route(
            "/api/replies/{reply_id:int}/flags/dismiss", moderation_api.dismiss, methods=["POST"]
        ),
        Route("/api/articles/{slug}/lock", moderation_api.lock, methods=["POST"]),
        Route("/api/articles/{slug}/unlock", moderation_api.lock, methods=["POST"]),
        Route("/api/users/{username}", moderation_api.user),
        Route("/api/users/{username}/suspend", moderation_api.suspend, methods=["POST"]),
        Route("/api/users/{username}/unsuspend", moderation_api.unsuspend, methods=["POST"]),
        Route("/api/users/{username}/role", moderation_api.set_role, methods=["POST"]),
        Route("/api/mod/flags", moderation_api.flags),
        Route(
            "/api/articles/{slug}/subscription",
            notifications_web.api_subscription,
            methods=["POST", "DELETE"],
        ),
        Route("/api/notifications", notifications_web.api_notifications),
        Route("/api/notifications/read", notifications_web.api_mark_read, methods=["POST"]),
        Route("/api/mod/log", moderation_api.log),
        Mount(
            "/static/vendor/htmx",
            StaticFiles(
                directory=PROJECT_ROOT / "node_modules" / "htmx.org" / "dist", check_dir=False
            ),
            name="htmx",
        ),
        Mount("/static", StaticFiles(directory=PROJECT_ROOT / "static"), name="static"),
    ]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _error(
    request: Request, status_code: int, message: str, field: str = "detail"
) -> Response:
    if _is_api(request):
        return json_errors({field: message}, status_code=status_code)
    return await render(
        request,
        "error.html",
        {"status_code": status_code, "message": message},
        status_code=status_code,
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    return await _error(request, 404, getattr(exc, "message", "There is nothing at this address."))


async def _forbidden(request: Request, exc: Exception) -> Response:
    return await _error(request, 403, getattr(exc, "message", "You may not do that."))


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    return await _error(
        request,
        403,
        "This form has expired or came from another site. Reload the page and try again.",
        field="csrf_token",
    )


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return json_errors({"detail": SignInRequired.message}, status_code=401)
    # htmx requests come from a page; send the reader back to that page, not to the fragment.
    came_from = urlsplit(request.headers.get("hx-current-url", "")).path or request.url.path
    target = "/login?" + urlencode({"next": came_from})
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    if _is_api(request):
        return json_errors(exc.errors, status_code=422)
    return await _error(request, 400, " ".join(exc.errors.values()))


async def _rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    response = await _error(request, 429, exc.message, field=exc.field)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _too_large(request: Request, exc: Exception) -> Response:
    return await _error(request, 413, "The request is too large.")


async def _unsupported(request: Request, exc: Exception) -> Response:
    return await _error(request, 415, "Send the body as application/json.", field="content_type")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "There is nothing at this address.", 405: "That method is not allowed here."}
    message = messages.get(exc.status_code, str(exc.detail))
    response = await _error(request, exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _is_api(request):
        return JSONResponse(
            {"errors": {"detail": "Something went wrong on our side."}}, status_code=500
        )
    return Response(
        "<!doctype html><title>Server error</title><h1>Something went wrong on our side.</h1>"
        "<p><a href='/'>Back to the forum</a></p>",
        status_code=500,
        media_type="text/html",
    )


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the forum for these settings (read from the environment when not given)."""
    settings = settings or load_settings()
    templates = build_templates()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await open_database(settings)
        added = await load_seed_articles(settings.seed_dir)
        if added:
            log.info("loaded %d article(s) from %s", added, settings.seed_dir)
        hub = Hub(
            backend_for(settings.broker_url, settings.broker_prefix),
            queue_size=settings.live_queue_size,
        )
        await hub.start()
        renderer = FrameRenderer(templates.env, settings)
        app.state.live = LiveThreads(hub, renderer, replay_limit=settings.live_replay_limit)
        app.state.presence = Presence(hub, renderer, Readers(settings.live_sockets))
        app.state.accounts = LiveAccounts(hub, renderer, lambda: render_flag_queue(templates.env))
        sender = MailSender(settings, transport_for(settings), sender_rules(settings))
        app.state.notifier = AppNotifier(
            app.state.accounts,
            sender if settings.mail_sender_in_process else None,
            settings.mail_coalesce_seconds,
        )
        sending = (
            asyncio.create_task(sender.run(), name="mail-sender")
            if settings.mail_sender_in_process
            else None
        )
        app.state.presence.start()
        # Live fan-out makes many short-lived objects; full collections over everything loaded
        # at start-up stalled every socket for ~0.5 s (bench/live.py). Freeze what start-up made
        # and collect the young generation less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 10)
        try:
            yield
        finally:
            if sending is not None:
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
            await app.state.presence.stop()
            await hub.stop()
            await close_database()

    app = Starlette(
        debug=settings.debug,
        routes=_routes(),
        middleware=[
            # First, so that it sees the server's own `send` (see forum.live.writer).
            Middleware(DirectWriteMiddleware),
            Middleware(VisitorCookieMiddleware, secure=settings.cookie_secure),
        ],
        exception_handlers={
            NotFound: _not_found,
            Forbidden: _forbidden,
            CsrfError: _csrf_failed,
            SignInRequired: _sign_in_required,
            ValidationError: _invalid,
            RateLimited: _rate_limited,
            PayloadTooLarge: _too_large,
            UnsupportedMediaType: _unsupported,
            HTTPException: _http_error,
            500: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.templates = templates
    app.state.limiter = RateLimiter(settings.limits, settings.broker_url, settings.broker_prefix)
    return app
