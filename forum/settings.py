"""All settings, read once from the environment (and an optional .env) through starlette.config."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from starlette.config import Config

from forum.ratelimits import LimitRules

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SocketCaps:
    """Most thread sockets one visitor and one address may hold open in a process (0: no cap)."""

    per_visitor: int = 8
    per_address: int = 200


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its surroundings; tests build their own."""

    database_url: str = "sqlite://var/forum.sqlite3"
    host: str = "127.0.0.1"
    port: int = 8000
    #: Public origin, used for absolute links (emails, feeds) and the WebSocket Origin check.
    base_url: str = "http://127.0.0.1:8000"
    #: Signs CSRF tokens; generated into var/secret_key when not given.
    secret_key: str = ""
    #: How long the author may edit a reply.
    edit_window_seconds: int = 15 * 60
    session_days: int = 30
    #: A deleted account's name may be registered again only this many days later.
    name_quarantine_days: int = 30
    #: Top-level replies per page.
    page_size: int = 20
    #: Children shown under each reply before "show N more replies".
    children_preview: int = 3
    #: Levels of replies loaded under a top-level reply before "continue this thread".
    preview_depth: int = 3
    #: Deeper replies are shown without further indent.
    max_indent: int = 6
    #: Replies nest at most this many levels deep (a reply to the article is level 1).
    max_reply_depth: int = 50
    #: A permalink shows at most this many replies above its reply, then "N earlier replies".
    permalink_ancestors: int = 8
    #: Hub backend: memory:// (one process) or redis://host:port/db (several processes).
    broker_url: str = "memory://"
    #: Start of every Redis channel and key of the hub: forums sharing one Redis need their own
    #: (Redis pub/sub ignores the database number in the URL).
    broker_prefix: str = "forum"
    #: Frames a live socket may have waiting before it counts as fallen behind and is closed.
    live_queue_size: int = 256
    #: Longest gap (in events) a reconnecting page is replayed; a larger one refreshes instead.
    live_replay_limit: int = 500
    #: Seconds between two live score frames of one reply (votes in between are coalesced).
    live_score_seconds: float = 1.0
    #: Write live frames straight onto uvicorn's sockets (forum.live.writer); off: through ASGI.
    live_direct_writes: bool = True
    #: How often open live sockets are checked against their accounts (role, session,
    #: suspension) for changes no notice announced, e.g. a role set from the command line.
    live_account_check_seconds: float = 30.0
    #: Most thread sockets one visitor and one address may hold open in a process.
    live_sockets: SocketCaps = field(default_factory=SocketCaps)
    #: smtp://[user:password@]host:port; empty: write mail as files to mail_dir.
    smtp_url: str = ""
    mail_from: str = "forum <forum@localhost>"
    mail_dir: Path = field(default=PROJECT_ROOT / "var" / "mail")
    #: At most one email per thread and recipient in this many seconds (0: at once).
    mail_coalesce_seconds: int = 120
    #: First wait after a temporary mail failure (doubles each time, 5 attempts).
    mail_retry_seconds: float = 30.0
    #: A mail sender's claim on what it is sending lasts this long and is renewed while it sends:
    #: how soon the mail of a sender that died is taken over by another.
    mail_claim_seconds: float = 60.0
    #: Run the mail sender inside the server (or leave it to `python -m forum mailer`).
    mail_sender_in_process: bool = True
    #: Anti-abuse limits (RATE_LIMITS=off turns them all off).
    limits: LimitRules = field(default_factory=LimitRules)
    #: Images in replies: "link" (shown as a link, never loaded) or "proxy" (loaded through the
    #: forum's own signed image proxy, /img/...). No reader's browser ever asks another site.
    reply_images: str = "link"
    #: Let the image proxy fetch from private, loopback and link-local addresses (tests only).
    image_proxy_allow_private: bool = False
    #: Bearer token that lets a scraper read /metrics from anywhere; empty: only from this
    #: machine, not through a proxy (forum.monitoring says why).
    metrics_token: str = ""
    #: One JSON line per request on the forum.access logger (standard output).
    access_log: bool = True
    #: Articles to load on first start (Markdown files with front matter).
    seed_dir: Path = field(default=PROJECT_ROOT / "forum" / "articles" / "content")
    debug: bool = False

    @property
    def cookie_secure(self) -> bool:
        """Secure cookies whenever the site is served over HTTPS."""
        return self.base_url.startswith("https://")


def _default_secret(var_dir: Path) -> str:
    """A per-installation secret kept in var/, so sessions survive restarts without setup."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Written aside, then linked into place: processes starting together (the servers and
    # commands of parallel test workers, several `make run`s) never read a half-written key,
    # and the first one's key is the one every process uses.
    draft = var_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    draft.write_text(secret)
    draft.chmod(0o600)
    try:
        os.link(draft, path)
    except FileExistsError:
        secret = path.read_text().strip()
    finally:
        draft.unlink()
    return secret


def _mail_from(value: str) -> str:
    """MAIL_FROM, refused at start unless it is one address without line breaks (it becomes the
    From header of every message)."""
    if "\r" in value or "\n" in value or "@" not in parseaddr(value)[1]:
        raise ValueError(
            f"MAIL_FROM must be one address, like 'forum <forum@example.org>': {value!r}"
        )
    return value


def _reply_images(value: str) -> str:
    """REPLY_IMAGES, refused at start unless it is one of the two modes."""
    if value not in ("link", "proxy"):
        raise ValueError(f"REPLY_IMAGES must be 'link' or 'proxy': {value!r}")
    return value


def load_settings(env_file: str | Path | None = PROJECT_ROOT / ".env") -> Settings:
    """Read settings from the environment (and .env when present)."""
    config = Config(env_file if env_file and Path(env_file).exists() else None)
    host = config("HOST", default="127.0.0.1")
    port = config("PORT", cast=int, default=8000)
    return Settings(
        database_url=config("DATABASE_URL", default="sqlite://var/forum.sqlite3"),
        host=host,
        port=port,
        base_url=config("BASE_URL", default=f"http://{host}:{port}").rstrip("/"),
        secret_key=config("SECRET_KEY", default="") or _default_secret(PROJECT_ROOT / "var"),
        edit_window_seconds=config("EDIT_WINDOW_SECONDS", cast=int, default=15 * 60),
        session_days=config("SESSION_DAYS", cast=int, default=30),
        name_quarantine_days=config("ACCOUNT_NAME_QUARANTINE_DAYS", cast=int, default=30),
        page_size=config("PAGE_SIZE", cast=int, default=20),
        max_reply_depth=config("MAX_REPLY_DEPTH", cast=int, default=50),
        broker_url=config("BROKER_URL", default="memory://"),
        broker_prefix=config("BROKER_PREFIX", default="forum"),
        live_queue_size=config("LIVE_QUEUE_SIZE", cast=int, default=256),
        live_replay_limit=config("LIVE_REPLAY_LIMIT", cast=int, default=500),
        live_score_seconds=config("LIVE_SCORE_SECONDS", cast=float, default=1.0),
        live_direct_writes=config("LIVE_DIRECT_WRITES", default="on").lower()
        not in ("off", "false", "0"),
        live_account_check_seconds=config("LIVE_ACCOUNT_CHECK_SECONDS", cast=float, default=30.0),
        live_sockets=SocketCaps(
            per_visitor=config("LIVE_SOCKETS_PER_VISITOR", cast=int, default=8),
            per_address=config("LIVE_SOCKETS_PER_ADDRESS", cast=int, default=200),
        ),
        smtp_url=config("SMTP_URL", default=""),
        mail_from=_mail_from(config("MAIL_FROM", default="forum <forum@localhost>")),
        mail_dir=Path(config("MAIL_DIR", default=str(PROJECT_ROOT / "var" / "mail"))),
        mail_coalesce_seconds=config("MAIL_COALESCE_SECONDS", cast=int, default=120),
        mail_retry_seconds=config("MAIL_RETRY_SECONDS", cast=float, default=30.0),
        mail_claim_seconds=config("MAIL_CLAIM_SECONDS", cast=float, default=60.0),
        mail_sender_in_process=config("MAIL_SENDER", default="inprocess") == "inprocess",
        limits=LimitRules(
            enabled=config("RATE_LIMITS", default="on").lower() not in ("off", "false", "0"),
            new_account_posts=config("RATE_LIMIT_NEW_ACCOUNT_POSTS", default="1/30 seconds"),
            established_posts=config("RATE_LIMIT_POSTS", default="1/5 seconds"),
            new_account_hours=config("NEW_ACCOUNT_HOURS", cast=int, default=24),
            duplicate_window_seconds=config("DUPLICATE_WINDOW_SECONDS", cast=int, default=300),
            login_per_ip=config("RATE_LIMIT_LOGIN_IP", default="20/minute"),
            login_per_account=config("RATE_LIMIT_LOGIN_ACCOUNT", default="5/minute"),
            register_per_ip=config("RATE_LIMIT_REGISTER_IP", default="10/hour"),
            account_mail_per_address=config("RATE_LIMIT_ACCOUNT_MAIL", default="3/hour"),
            account_mail_per_ip=config("RATE_LIMIT_ACCOUNT_MAIL_IP", default="20/hour"),
            name_suggestions=config("RATE_LIMIT_NAME_SUGGESTIONS", default="60/minute"),
            previews=config("RATE_LIMIT_PREVIEWS", default="60/minute"),
        ),
        reply_images=_reply_images(config("REPLY_IMAGES", default="link")),
        image_proxy_allow_private=config("IMAGE_PROXY_ALLOW_PRIVATE", cast=bool, default=False),
        metrics_token=config("METRICS_TOKEN", default=""),
        access_log=config("ACCESS_LOG", default="on").lower() not in ("off", "false", "0"),
        debug=config("DEBUG", cast=bool, default=False),
    )
