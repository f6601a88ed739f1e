"""Command line: `python -m forum serve | migrate | mailer | import-article FILE | promote NAME`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from forum.actors import SYSTEM
from forum.articles.service import ArticleFileError, import_article, read_article_file
from forum.db import close_database, migrate_database, open_database
from forum.errors import NotFound
from forum.events import EventBus
from forum.live.accounts import LiveAccounts
from forum.live.backends import backend_for
from forum.live.hub import Hub
from forum.live.render import FrameRenderer
from forum.live.threads import LiveThreads
from forum.moderation.queue import render_flag_queue
from forum.moderation.service import set_role
from forum.notifications.sender import MailSender, sender_rules, transport_for
from forum.settings import Settings, load_settings
from forum.templating import build_templates
from forum.validation import ValidationError
from forum.wiring import event_bus, subscribe_live
from models import Role


async def _import(settings: Settings, path: Path) -> int:
    try:
        article_file = read_article_file(path)
    except ArticleFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    await migrate_database(settings)
    await open_database(settings)
    try:
        article, created = await import_article(article_file)
    finally:
        await close_database()
    state = "added" if created else "already present (unchanged)"
    print(f"{article.slug}: {state} -> {settings.base_url}/a/{article.slug}")
    return 0


@contextlib.asynccontextmanager
async def _events(settings: Settings) -> AsyncIterator[EventBus]:
    """The event bus of a command: account notices reach the servers' open pages through the
    hub when it is shared (Redis); with the in-process default, each server's periodic check
    (LIVE_ACCOUNT_CHECK_SECONDS) notices the change instead."""
    templates = build_templates(settings.edit_window_seconds)
    hub = Hub(backend_for(settings.broker_url, settings.broker_prefix))
    await hub.start()
    renderer = FrameRenderer(templates.env, settings)
    bus = event_bus(settings)
    subscribe_live(
        bus,
        LiveThreads(hub, renderer, replay_limit=settings.live_replay_limit),
        LiveAccounts(hub, renderer, lambda: render_flag_queue(templates.env)),
        None,
    )
    try:
        yield bus
    finally:
        await hub.stop()


async def _promote(settings: Settings, username: str, role: str) -> int:
    await migrate_database(settings)
    await open_database(settings)
    try:
        async with _events(settings) as bus:
            user = await set_role(SYSTEM, username, role, bus=bus)
    except (NotFound, ValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        await close_database()
    print(f"{user.username} is now {user.role.value}")
    return 0


async def _mailer(settings: Settings) -> int:
    await migrate_database(settings)
    await open_database(settings)
    sender = MailSender(settings, transport_for(settings), sender_rules(settings))
    print("mail sender running (Ctrl-C to stop)")
    try:
        await sender.run()
    finally:
        await close_database()
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    asyncio.run(migrate_database(settings))
    uvicorn.run(
        "server:app",
        host=settings.host,
        port=settings.port,
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
        proxy_headers=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one forum command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m forum", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="apply migrations, then serve on HOST:PORT")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser(
        "mailer", help="send the mail outbox (instead of the server: MAIL_SENDER=off)"
    )
    importer = commands.add_parser("import-article", help="add an article from a Markdown file")
    importer.add_argument("file", type=Path)
    promoter = commands.add_parser("promote", help="set a user's role (reader, moderator, admin)")
    promoter.add_argument("username")
    promoter.add_argument("--role", choices=[role.value for role in Role], default="moderator")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        asyncio.run(migrate_database(settings))
        print("database is up to date")
        return 0
    if args.command == "mailer":
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_mailer(settings))
        return 0
    if args.command == "promote":
        return asyncio.run(_promote(settings, args.username, args.role))
    return asyncio.run(_import(settings, args.file))
