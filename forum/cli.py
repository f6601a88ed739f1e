"""Command line: `python -m forum serve | migrate | mailer | import-article FILE | promote NAME
| export FILE | import FILE`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

# Only what `migrate` needs is imported here: it runs before every start (docs/deploy.md), and
# importing the whole forum would double its time. Each other command imports what it uses.
from forum.db import close_database, migrate_database, open_database
from forum.settings import Settings, load_settings
from models import Role

if TYPE_CHECKING:
    from forum.events import EventBus
    from forum.transfer import Progress


async def _import(settings: Settings, path: Path) -> int:
    from forum.articles.service import ArticleFileError, import_article, read_article_file

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
    from forum.live.accounts import LiveAccounts
    from forum.live.backends import backend_for
    from forum.live.hub import Hub
    from forum.live.render import FrameRenderer
    from forum.live.threads import LiveThreads
    from forum.moderation.queue import render_flag_queue
    from forum.templating import build_templates
    from forum.wiring import event_bus, subscribe_live

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
    from forum.actors import SYSTEM
    from forum.errors import NotFound
    from forum.moderation.members import set_role
    from forum.validation import ValidationError

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
    from forum.notifications.sender import MailSender, sender_rules, transport_for

    await migrate_database(settings)
    await open_database(settings)
    sender = MailSender(settings, transport_for(settings), sender_rules(settings))
    print("mail sender running (Ctrl-C to stop)")
    try:
        await sender.run()
    finally:
        await close_database()
    return 0


class _TerminalProgress:
    """A progress bar on standard error (rich), for a person watching a long transfer."""

    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import Progress as Bar

        self._bar = Bar(console=Console(stderr=True))
        self._label = label
        self._task: Any = None

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(self._label, total=total)

    def advance(self, rows: int) -> None:
        self._bar.advance(self._task, rows)

    def finish(self) -> None:
        self._bar.stop()


def _progress(label: str) -> Progress | None:
    # Only a person at a terminal wants a bar; a log file or a pipe gets the summary alone.
    return _TerminalProgress(label) if sys.stderr.isatty() else None


def _print_summary(verb: str, rows: dict[str, int]) -> None:
    for table, count in rows.items():
        print(f"{table}: {count} rows {verb}")


async def _export(settings: Settings, out: IO[str], with_secrets: bool) -> int:
    from forum.transfer import export_forum

    await open_database(settings)
    try:
        summary = await export_forum(
            out, with_secrets=with_secrets, progress=_progress("exporting")
        )
    finally:
        await close_database()
    _print_summary("exported", summary.rows)
    if not with_secrets:
        print("password hashes, sessions and feed tokens left out (--with-secrets keeps them)")
    return 0


async def _import_forum(settings: Settings, source: IO[str], replace: bool) -> int:
    from forum.transfer import TransferError, import_forum

    await migrate_database(settings)
    await open_database(settings)
    try:
        summary = await import_forum(source, replace=replace, progress=_progress("importing"))
    except TransferError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        await close_database()
    _print_summary("imported", summary.rows)
    if not summary.secrets:
        print(
            "the file held no passwords: members cannot sign in until they are given new ones "
            "(export with --with-secrets to keep them)"
        )
    return 0


#: Connections the listening socket queues before they are accepted (uvicorn's default).
SERVE_BACKLOG = 2048


def _listen(settings: Settings) -> socket.socket:
    """The server's listening socket on HOST:PORT (IPv6 when HOST is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    return socket.create_server(
        (settings.host, settings.port), family=family, backlog=SERVE_BACKLOG
    )


def _serve(settings: Settings) -> int:
    import uvicorn

    # Listening before migrating and loading the app: pages reconnecting while the server
    # (re)starts wait in the backlog and are served once it runs, instead of being refused and
    # backing off for up to 6.5 s (bench/restart.py).
    listener = _listen(settings)
    asyncio.run(migrate_database(settings))
    config = uvicorn.Config(
        "server:app",
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
        proxy_headers=False,
        # The forum writes its own access log (ACCESS_LOG), by route rather than raw path.
        access_log=not settings.access_log,
        backlog=SERVE_BACKLOG,
    )
    print(f"serving on {settings.base_url} (listening on {settings.host}:{settings.port})")
    with contextlib.suppress(KeyboardInterrupt), listener:
        uvicorn.Server(config).run(sockets=[listener])
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
    exporter = commands.add_parser("export", help="write the whole forum to a JSON Lines file")
    exporter.add_argument("file", type=Path)
    exporter.add_argument(
        "--with-secrets",
        action="store_true",
        help="include password hashes, session tokens and feed tokens",
    )
    loader = commands.add_parser(
        "import", help="load an export into an empty database (any kind: SQLite, PostgreSQL)"
    )
    loader.add_argument("file", type=Path)
    loader.add_argument(
        "--replace", action="store_true", help="delete everything in the database first"
    )
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
    if args.command == "export":
        # Files are opened here, outside the event loop (reading and writing them blocks). The
        # export is written beside the file and renamed when whole: a failed export leaves no
        # file that looks complete.
        partial = args.file.with_name(args.file.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8") as out:
                status = asyncio.run(_export(settings, out, args.with_secrets))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(args.file)
        return status
    if args.command == "import":
        if not args.file.is_file():
            print(f"error: no such file: {args.file}", file=sys.stderr)
            return 2
        with args.file.open(encoding="utf-8") as source:
            return asyncio.run(_import_forum(settings, source, args.replace))
    return asyncio.run(_import(settings, args.file))
