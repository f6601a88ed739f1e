"""The application factory: the whole route table, the lifespan and the error pages."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.convertors import register_url_convertor
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from forum import monitoring, openapi
from forum.access import Access, PublicMount, page, socket
from forum.accounts import api as accounts_api
from forum.accounts import directory_api, muting_web, settings_web
from forum.accounts import web as accounts_web
from forum.accounts.identity import SESSION_COOKIE, VisitorCookieMiddleware
from forum.articles import api as articles_api
from forum.articles import web as articles_web
from forum.articles.service import load_seed_articles
from forum.boundary import IdConvertor
from forum.compression import CompressionMiddleware
from forum.db import close_database, open_database, ping_database
from forum.error_pages import EXCEPTION_HANDLERS
from forum.http import (
    SafeUrlMiddleware,
)
from forum.images import web as images_web
from forum.images.fetcher import ImageFetcher
from forum.images.policy import ImagePolicy
from forum.live.accounts import LiveAccounts
from forum.live.backends import backend_for
from forum.live.endpoint import thread_socket
from forum.live.hub import Hub
from forum.live.moderation_socket import moderation_socket
from forum.live.presence import Presence
from forum.live.readers import Readers
from forum.live.render import FrameRenderer
from forum.live.scores import LiveScores
from forum.live.threads import LiveThreads
from forum.live.writer import DirectWriteMiddleware
from forum.moderation import api as moderation_api
from forum.moderation import queue_web
from forum.moderation import web as moderation_web
from forum.moderation.queue import render_flag_queue
from forum.notifications import web as notifications_web
from forum.notifications.sender import MailSender, sender_rules, transport_for
from forum.notifications.service import outbox_depth
from forum.profiles import api as profiles_api
from forum.profiles import web as profiles_web
from forum.ratelimits import RateLimiter
from forum.replies import api as replies_api
from forum.replies import web as replies_web
from forum.security_headers import SecurityHeadersMiddleware, SecurityPolicy
from forum.settings import Settings, load_settings
from forum.static_assets import ASSETS
from forum.templating import build_templates
from forum.wiring import event_bus, subscribe_live

log = logging.getLogger("forum")

# {reply_id:id} matches only ids a row can have: any other number is a 404, not a database error.
register_url_convertor("id", IdConvertor())
REPLY = "/a/{slug}/r/{reply_id:id}"
API_REPLY = "/api/replies/{reply_id:id}"
ANYONE, ACTIVE, AUTHOR = Access.ANYONE, Access.ACTIVE, Access.AUTHOR
MODERATOR, ADMIN = Access.MODERATOR, Access.ADMIN


def _routes() -> list[BaseRoute]:
    """The whole route table: each route says who may call it (see forum.access)."""
    return [
        page("/", articles_web.index, ANYONE, name="index"),
        page("/a/{slug}", articles_web.article_page, ANYONE, name="article"),
        page("/a/{slug}/replies", replies_web.create_reply, ACTIVE, ["POST"]),
        socket("/a/{slug}/live", thread_socket, ANYONE, name="live"),
        page(REPLY, replies_web.permalink, ANYONE, name="reply"),
        page(REPLY + "/reply", replies_web.reply_form, ACTIVE),
        page(REPLY + "/edit", replies_web.edit_reply, AUTHOR, ["GET", "POST"]),
        page(REPLY + "/delete", replies_web.delete_reply, AUTHOR, ["GET", "POST"]),
        page(REPLY + "/hide", moderation_web.hide, MODERATOR, ["GET", "POST"]),
        page(REPLY + "/unhide", moderation_web.unhide, MODERATOR, ["GET", "POST"]),
        page(REPLY + "/pin", moderation_web.pin, MODERATOR, ["GET", "POST"]),
        page(REPLY + "/unpin", moderation_web.pin, MODERATOR, ["GET", "POST"]),
        page(REPLY + "/revisions", replies_web.revisions, ANYONE),
        page(REPLY + "/flag", moderation_web.flag, ACTIVE, ["GET", "POST"]),
        page(REPLY + "/vote", replies_web.vote, ACTIVE, ["GET", "POST"]),
        page(REPLY + "/dismiss", moderation_web.dismiss, MODERATOR, ["POST"]),
        page("/a/{slug}/compose", moderation_web.compose, ANYONE),
        page("/preview", replies_web.preview, ACTIVE, ["POST"]),
        page("/a/{slug}/discuss", replies_web.discuss, ANYONE, name="discuss"),
        page("/a/{slug}/lock", moderation_web.lock, MODERATOR, ["POST"]),
        page("/a/{slug}/unlock", moderation_web.lock, MODERATOR, ["POST"]),
        page("/a/{slug}/follow", notifications_web.follow, ACTIVE, ["POST"]),
        page("/a/{slug}/unfollow", notifications_web.follow, ACTIVE, ["POST"]),
        page("/a/{slug}/feed.atom", notifications_web.thread_feed, ANYONE),
        # The thread's API next: Starlette tries the routes in order, a regex each, and these
        # carry most requests after the pages above (84 tries before a post cost a sixth of it).
        page("/api/articles", articles_api.articles, ANYONE),
        page("/api/articles/{slug}", articles_api.article, ANYONE),
        page("/api/articles/{slug}/replies", replies_api.list_replies, ANYONE, ["GET"]),
        page("/api/articles/{slug}/replies", replies_api.create_reply, ACTIVE, ["POST"]),
        page("/api/preview", replies_api.preview, ACTIVE, ["POST"]),
        page(API_REPLY, replies_api.get_reply, ANYONE, ["GET"]),
        page(API_REPLY, replies_api.update_reply, AUTHOR, ["PATCH"]),
        page(API_REPLY, replies_api.delete_reply, AUTHOR, ["DELETE"]),
        page(API_REPLY + "/hide", moderation_api.hide, MODERATOR, ["POST"]),
        page(API_REPLY + "/unhide", moderation_api.unhide, MODERATOR, ["POST"]),
        page(API_REPLY + "/pin", moderation_api.pin, MODERATOR, ["POST"]),
        page(API_REPLY + "/unpin", moderation_api.unpin, MODERATOR, ["POST"]),
        page(API_REPLY + "/revisions", replies_api.revisions, ANYONE, ["GET"]),
        page(API_REPLY + "/flags", moderation_api.flag, ACTIVE, ["POST"]),
        page(API_REPLY + "/vote", replies_api.vote, ACTIVE, ["PUT"]),
        page(API_REPLY + "/vote", replies_api.unvote, ACTIVE, ["DELETE"]),
        page(API_REPLY + "/flags/dismiss", moderation_api.dismiss, MODERATOR, ["POST"]),
        page("/api/articles/{slug}/lock", moderation_api.lock, MODERATOR, ["POST"]),
        page("/api/articles/{slug}/unlock", moderation_api.lock, MODERATOR, ["POST"]),
        page(
            "/api/articles/{slug}/subscription",
            notifications_web.api_subscription,
            ACTIVE,
            ["POST", "DELETE"],
        ),
        # Then the rest, pages and API.
        page("/mod/flags", queue_web.flag_queue, MODERATOR),
        page("/mod/flags/bulk", queue_web.bulk_action, MODERATOR, ["POST"]),
        page("/mod/log", moderation_web.audit_log, MODERATOR),
        socket("/mod/live", moderation_socket, MODERATOR),
        page("/u/{username}", profiles_web.profile, ANYONE),
        page("/u/{username}/avatar.svg", profiles_web.avatar, ANYONE),
        page("/u/{username}/suspend", moderation_web.suspend, MODERATOR, ["POST"]),
        page("/u/{username}/unsuspend", moderation_web.unsuspend, MODERATOR, ["POST"]),
        page("/u/{username}/role", moderation_web.set_role, ADMIN, ["POST"]),
        page("/u/{username}/mute", muting_web.mute_form, ACTIVE, ["POST"]),
        page("/u/{username}/unmute", muting_web.mute_form, ACTIVE, ["POST"]),
        # The token in the path is the secret; the handler refuses suspended members' feeds.
        page("/feeds/{token}/replies.atom", notifications_web.private_feed, ANYONE),
        page("/notifications", notifications_web.notifications_page, ACTIVE),
        page("/notifications/read", notifications_web.mark_read_form, ACTIVE, ["POST"]),
        page("/notifications/{notification_id:id}", notifications_web.open_notification, ACTIVE),
        page("/notifications/feed", notifications_web.renew_feed, ACTIVE, ["POST"]),
        page("/notifications/settings", notifications_web.reply_setting, ACTIVE, ["POST"]),
        # One-click unsubscribe from a mail: the signed token is the permission.
        page("/unsubscribe/{token}", notifications_web.unsubscribe, ANYONE, ["GET", "POST"]),
        page("/register", accounts_web.register, ANYONE, ["GET", "POST"]),
        page("/login", accounts_web.login, ANYONE, ["GET", "POST"]),
        page("/logout", accounts_web.logout, ANYONE, ["POST"]),
        # For load balancers: says only whether the database and the broker answer.
        page("/healthz", monitoring.healthz, ANYONE),
        # METRICS_TOKEN (without it: a local, unproxied client) is the permission; see monitoring.
        page("/metrics", monitoring.metrics, ANYONE),
        # Mailed links: the single-use token is the permission (forum.accounts.tokens).
        page("/verify-email", accounts_web.verify_email, ANYONE, ["GET", "POST"]),
        page("/forgot-password", accounts_web.forgot_password, ANYONE, ["GET", "POST"]),
        page("/reset-password", accounts_web.reset_password, ANYONE, ["GET", "POST"]),
        page("/sign-in-link", accounts_web.sign_in_link, ANYONE, ["GET", "POST"]),
        page("/sign-in", accounts_web.sign_in_with_link, ANYONE, ["GET", "POST"]),
        page("/settings", settings_web.settings_page, ACTIVE),
        page("/settings/email", settings_web.settings_email, ACTIVE, ["POST"]),
        page("/settings/email/verify", settings_web.settings_resend, ACTIVE, ["POST"]),
        page("/settings/password", settings_web.settings_password, ACTIVE, ["POST"]),
        page("/settings/notifications", settings_web.settings_notifications, ACTIVE, ["POST"]),
        page(
            "/settings/sessions/{session_id:id}/end",
            settings_web.settings_end_session,
            ACTIVE,
            ["POST"],
        ),
        page("/settings/sessions/end", settings_web.settings_end_every_session, ACTIVE, ["POST"]),
        page("/settings/delete", settings_web.settings_delete, ACTIVE, ["POST"]),
        page("/api/openapi.json", openapi.openapi_document, ANYONE),
        page("/api/accounts", accounts_api.create_account, ANYONE, ["POST"]),
        page("/api/session", accounts_api.create_session, ANYONE, ["POST"]),
        page("/api/session", accounts_api.delete_session, ANYONE, ["DELETE"]),
        page("/api/me", accounts_api.me, ACTIVE, ["GET"]),
        page("/api/me", accounts_api.update_me, ACTIVE, ["PATCH"]),
        page("/api/me", accounts_api.delete_me, ACTIVE, ["DELETE"]),
        page("/api/me/email/verify", accounts_api.resend_verification, ACTIVE, ["POST"]),
        page("/api/me/export", accounts_api.export, ACTIVE, ["GET"]),
        page("/api/me/password", accounts_api.change_password, ACTIVE, ["POST"]),
        page("/api/me/muted", accounts_api.muted, ACTIVE, ["GET"]),
        page("/api/me/muted/{username}", accounts_api.mute, ACTIVE, ["POST"]),
        page("/api/me/muted/{username}", accounts_api.unmute, ACTIVE, ["DELETE"]),
        page("/api/me/sessions", accounts_api.sessions, ACTIVE, ["GET"]),
        page("/api/me/sessions", accounts_api.end_every_session, ACTIVE, ["DELETE"]),
        page("/api/me/sessions/{session_id:id}", accounts_api.end_session, ACTIVE, ["DELETE"]),
        page("/api/verify-email", accounts_api.verify_email, ANYONE, ["POST"]),
        page("/api/password-reset", accounts_api.request_password_reset, ANYONE, ["POST"]),
        page("/api/password-reset/confirm", accounts_api.confirm_password_reset, ANYONE, ["POST"]),
        page("/api/sign-in-link", accounts_api.request_sign_in_link, ANYONE, ["POST"]),
        page("/api/sign-in-link/confirm", accounts_api.confirm_sign_in_link, ANYONE, ["POST"]),
        # Members only: names one by one are public, a list of them all is for no one.
        page("/api/users", directory_api.users, ACTIVE, ["GET"]),
        page("/api/users/{username}", profiles_api.user, ANYONE),
        page("/api/users/{username}/suspend", moderation_api.suspend, MODERATOR, ["POST"]),
        page("/api/users/{username}/unsuspend", moderation_api.unsuspend, MODERATOR, ["POST"]),
        page("/api/users/{username}/role", moderation_api.set_role, ADMIN, ["POST"]),
        page("/api/mod/flags", moderation_api.flags, MODERATOR),
        page("/api/mod/flags/bulk", moderation_api.bulk_action, MODERATOR, ["POST"]),
        page("/api/mod/log", moderation_api.log, MODERATOR),
        page("/api/notifications", notifications_web.api_notifications, ACTIVE),
        page("/api/notifications/read", notifications_web.api_mark_read, ACTIVE, ["POST"]),
        # The signed address is the permission: the forum signed it when rendering a reply.
        page("/img/{signature}/{encoded}", images_web.proxy, ANYONE, name="image"),
        PublicMount("/static/vendor/htmx", ASSETS.files("/static/vendor/htmx"), name="htmx"),
        PublicMount("/static", ASSETS.files("/static"), name="static"),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the forum for these settings (read from the environment when not given)."""
    settings = settings or load_settings()
    templates = build_templates(settings.edit_window_seconds)
    security = SecurityPolicy(settings.base_url)
    app_metrics = monitoring.Metrics()
    monitoring.configure_access_log(settings.access_log)

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
        hub.on_reconnect(app.state.presence.resync)
        scores = LiveScores(hub, renderer, interval=settings.live_score_seconds)
        app.state.probes = monitoring.Probes(
            database=ping_database,
            broker=hub.backend.ping,
            open_sockets=app.state.presence.readers.open_sockets,
            outbox=outbox_depth,
            live=app.state.live.counters,
        )
        app.state.accounts = LiveAccounts(hub, renderer, lambda: render_flag_queue(templates.env))
        sender = MailSender(settings, transport_for(settings), sender_rules(settings))
        subscribe_live(
            app.state.events,
            app.state.live,
            app.state.accounts,
            sender if settings.mail_sender_in_process else None,
            scores=scores,
        )
        sending = (
            asyncio.create_task(sender.run(), name="mail-sender")
            if settings.mail_sender_in_process
            else None
        )
        app.state.presence.start()
        account_checks = asyncio.create_task(
            app.state.accounts.run_checks(settings.live_account_check_seconds),
            name="live-account-checks",
        )
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
            account_checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await account_checks
            await app.state.presence.stop()
            await scores.stop()
            await hub.stop()
            await close_database()

    app = Starlette(
        debug=settings.debug,
        routes=_routes(),
        middleware=[
            # First, so that it sees the server's own `send` (see forum.live.writer).
            Middleware(DirectWriteMiddleware, enabled=settings.live_direct_writes),
            # Outside compression: counts the bytes that leave. Both pass WebSockets untouched.
            Middleware(monitoring.RequestMetricsMiddleware, metrics=app_metrics),
            # gzip from 1 KiB, not signed-in readers' HTML (forum.compression says why).
            Middleware(CompressionMiddleware, session_cookie=SESSION_COOKIE),
            # Before the others, so that every answer (refusals of bad URLs too) carries them.
            Middleware(SecurityHeadersMiddleware, policy=security),
            Middleware(SafeUrlMiddleware),
            Middleware(VisitorCookieMiddleware, secure=settings.cookie_secure),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.events = event_bus(settings)
    app.state.templates = templates
    app.state.page_extras = notifications_web.page_extras
    app.state.security = security
    app.state.metrics = app_metrics
    app.state.images = ImagePolicy.from_settings(settings)
    app.state.image_fetcher = ImageFetcher(allow_private=settings.image_proxy_allow_private)
    app.state.limiter = RateLimiter(settings.limits, settings.broker_url, settings.broker_prefix)
    return app
