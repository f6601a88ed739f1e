"""Moderation: who may moderate (every endpoint for every kind of caller) and the audit log,
flags and their queue, hidden replies leaking nowhere, locked threads and suspensions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from bs4 import BeautifulSoup, Tag
from tortoise.expressions import F
from websockets.asyncio.client import ClientConnection

from forum.accounts.identity import SESSION_COOKIE, session_csrf_token
from forum.accounts.service import token_hash
from forum.settings import Settings
from forum.visibility import counted_replies
from models import (
    Article,
    AuditAction,
    AuditEntry,
    Flag,
    HideReason,
    Reply,
    ReplyStatus,
    Role,
    Session,
    User,
)
from tests.conftest import PASSWORD, LiveServer, Member, sign_up, unique_name

HTMX = {"HX-Request": "true"}
#: Generous, only so that a broken server fails a test instead of hanging it.
TIMEOUT = 20
#: docs/live.md: a suspended user's sockets are closed with this code (do not reconnect).
CLOSE_SUSPENDED = 4403
#: The server's settings as the tests start it (PAGE_SIZE is not overridden).
SETTINGS = Settings()

#: A frame from a live socket, decoded.
Message = dict[str, Any]


# Members ----------------------------------------------------------------------------------------


async def enrol(
    server: LiveServer, prefix: str = "reader", *, role: Role = Role.READER, suspended: bool = False
) -> Member:
    """A member with a session, made straight in the database: no argon2 hashing, so it is
    cheap, but it has no password to sign in with again."""
    username = unique_name(prefix)
    user = await User.create(
        username=username,
        username_key=username.lower(),
        password_hash="!",
        role=role,
        suspended_until=datetime.now(UTC) + timedelta(days=7) if suspended else None,
        suspension_reason="Testing suspensions" if suspended else "",
    )
    token = secrets.token_urlsafe(32)
    await Session.create(
        token_hash=token_hash(token), user=user, expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    client = httpx.AsyncClient(base_url=server.url, timeout=10, cookies={SESSION_COOKIE: token})
    return Member(username, client, session_csrf_token(server.env["SECRET_KEY"], token))


async def visitor(server: LiveServer) -> Member:
    """A signed-out browser with its visitor cookie and the CSRF token bound to it, so that its
    forms are refused for being signed out rather than for being forged."""
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    field = parse((await client.get("/login")).text).select_one("input[name=csrf_token]")
    assert field is not None
    return Member("", client, str(field["value"]))


async def user_row(member: Member) -> User:
    """The member's row as it is now."""
    return await User.get(username_key=member.username.lower())


@dataclass
class Cast:
    """The module's members, each in their role."""

    visitor: Member
    reader: Member
    poster: Member
    moderator: Member
    suspended_moderator: Member

    def all(self) -> list[Member]:
        return [self.visitor, self.reader, self.poster, self.moderator, self.suspended_moderator]


@pytest_asyncio.fixture(scope="module")
async def cast(server: LiveServer, db: None) -> AsyncIterator[Cast]:
    """A signed-out visitor, two readers, a moderator, and a moderator whose suspension was set
    in the database (so that their session survives it)."""
    members = Cast(
        visitor=await visitor(server),
        reader=await enrol(server, "reader"),
        poster=await enrol(server, "poster"),
        moderator=await enrol(server, "mod", role=Role.MODERATOR),
        suspended_moderator=await enrol(server, "exmod", role=Role.MODERATOR, suspended=True),
    )
    yield members
    for member in members.all():
        await member.client.aclose()


# Pages, API and sockets ---------------------------------------------------------------------


def parse(html: str) -> BeautifulSoup:
    """An HTML page or fragment, parsed."""
    return BeautifulSoup(html, "html.parser")


def error_message(response: httpx.Response) -> str:
    """The message of an API error or of an error page."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return " ".join(response.json()["errors"].values())
    message = parse(response.text).select_one(".error-message")
    assert message is not None, response.text
    return message.get_text(strip=True)


async def post_reply(member: Member, slug: str, body: str, parent_id: int | None = None) -> int:
    """Post a reply through the API; its id."""
    response = await member.post_reply(body, parent_id, slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def api(
    member: Member, path: str, payload: dict[str, object] | None = None
) -> httpx.Response:
    """POST to a JSON endpoint with the member's CSRF header."""
    return await member.client.post(path, json=payload or {}, headers=member.headers())


async def hide(moderator: Member, reply_id: int, note: str = "") -> None:
    """A moderator hides a reply through the API."""
    payload = {"reason": "abuse", "note": note}
    response = await api(moderator, f"/api/replies/{reply_id}/hide", payload)
    assert response.status_code == 200, response.text


def ws_url(server: LiveServer, path: str) -> str:
    """The WebSocket address of a path on the server."""
    return "ws" + server.url.removeprefix("http") + path


def open_socket(server: LiveServer, path: str, member: Member | None = None) -> Any:
    """Open a WebSocket as this member (their session cookie), or signed out."""
    token = member.client.cookies.get(SESSION_COOKIE) if member else None
    headers = {"Cookie": f"{SESSION_COOKIE}={token}"} if token else {}
    return websockets.connect(
        ws_url(server, path), additional_headers=headers, open_timeout=TIMEOUT
    )


#: Frames about the page's surroundings rather than the thread: presence, the bell, following.
AMBIENT = {"presence", "notifications", "subscription"}


async def next_event(ws: ClientConnection) -> Message:
    """The next frame that is not ambient (presence, the bell, the follow button)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame: Message = json.loads(await ws.recv())
            if frame["type"] not in AMBIENT:
                return frame


async def resume(ws: ClientConnection, last_seq: int) -> None:
    """Tell the server what the page has seen."""
    await ws.send(json.dumps({"type": "resume", "last_seq": last_seq}))


def partials(frame: Message) -> dict[str, Tag]:
    """The frame's <hx-partial>s by the target each swaps."""
    soup = parse(frame["content"])
    return {str(partial["hx-target"]): partial for partial in soup.find_all("hx-partial")}


# Who may moderate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """What the moderation endpoints change."""

    status: ReplyStatus
    open_flags: int
    locked: bool
    author_suspended: bool


@dataclass
class Scene:
    """One article with a reply by its author; the reply has a reply under it (so that even
    hidden it stays on the page as a stub) and one open flag."""

    article: Article
    author: Member
    reply: Reply

    def path(self, template: str) -> str:
        """A path template filled in with this scene's article, reply and author."""
        return template.format(
            slug=self.article.slug, reply=self.reply.id, user=self.author.username
        )

    async def target_id(self, kind: str) -> int:
        """The id of the scene's reply, article or author (the user moderated)."""
        if kind == "user":
            return (await user_row(self.author)).id
        return {"reply": self.reply.id, "article": self.article.id}[kind]

    async def state(self) -> State:
        """What the moderation endpoints change, as it is now."""
        reply = await Reply.get(id=self.reply.id)
        article = await Article.get(id=self.article.id)
        author = await user_row(self.author)
        return State(
            status=reply.status,
            open_flags=await Flag.filter(reply_id=reply.id, resolved_at=None).count(),
            locked=article.locked,
            author_suspended=author.suspended_until is not None,
        )


@dataclass(frozen=True)
class Endpoint:
    """A moderator endpoint: how to call it, and what it does when a moderator does."""

    name: str
    method: str
    path: str
    form: dict[str, str] | None = None
    #: The state it needs first: "hidden", "locked" or "suspended".
    needs: str = ""
    ok: int = 200
    #: Where a moderator's plain-form request is sent on (pages only).
    goes_to: str = ""
    #: What a moderator's call writes to the audit log: the action and the kind of its target.
    action: AuditAction | None = None
    target: str = ""
    #: How a moderator's call changes the scene's State.
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def is_api(self) -> bool:
        """Whether this is a JSON endpoint (the others are pages and forms)."""
        return self.path.startswith("/api/")

    @property
    def is_socket(self) -> bool:
        """Whether this is the moderators' WebSocket."""
        return self.method == "WS"


REPLY_PAGE = "/a/{slug}/r/{reply}"
ENDPOINTS = [
    Endpoint(
        "api hide",
        "POST",
        "/api/replies/{reply}/hide",
        {"reason": "spam", "note": "Selling watches"},
        action=AuditAction.HIDE,
        target="reply",
        changes={"status": ReplyStatus.HIDDEN, "open_flags": 0},
    ),
    Endpoint(
        "api unhide",
        "POST",
        "/api/replies/{reply}/unhide",
        needs="hidden",
        action=AuditAction.UNHIDE,
        target="reply",
        changes={"status": ReplyStatus.VISIBLE},
    ),
    Endpoint(
        "api dismiss flags",
        "POST",
        "/api/replies/{reply}/flags/dismiss",
        action=AuditAction.DISMISS_FLAGS,
        target="reply",
        changes={"open_flags": 0},
    ),
    Endpoint(
        "api lock",
        "POST",
        "/api/articles/{slug}/lock",
        action=AuditAction.LOCK,
        target="article",
        changes={"locked": True},
    ),
    Endpoint(
        "api unlock",
        "POST",
        "/api/articles/{slug}/unlock",
        needs="locked",
        action=AuditAction.UNLOCK,
        target="article",
        changes={"locked": False},
    ),
    Endpoint(
        "api suspend",
        "POST",
        "/api/users/{user}/suspend",
        {"reason": "Spamming"},
        action=AuditAction.SUSPEND,
        target="user",
        changes={"author_suspended": True},
    ),
    Endpoint(
        "api unsuspend",
        "POST",
        "/api/users/{user}/unsuspend",
        needs="suspended",
        action=AuditAction.UNSUSPEND,
        target="user",
        changes={"author_suspended": False},
    ),
    Endpoint("api flag queue", "GET", "/api/mod/flags"),
    Endpoint("api audit log", "GET", "/api/mod/log"),
    Endpoint("hide form", "GET", REPLY_PAGE + "/hide"),
    Endpoint(
        "hide",
        "POST",
        REPLY_PAGE + "/hide",
        {"reason": "off-topic"},
        ok=303,
        goes_to=REPLY_PAGE,
        action=AuditAction.HIDE,
        target="reply",
        changes={"status": ReplyStatus.HIDDEN, "open_flags": 0},
    ),
    Endpoint("unhide confirmation", "GET", REPLY_PAGE + "/unhide", needs="hidden"),
    Endpoint(
        "unhide",
        "POST",
        REPLY_PAGE + "/unhide",
        {},
        needs="hidden",
        ok=303,
        goes_to=REPLY_PAGE,
        action=AuditAction.UNHIDE,
        target="reply",
        changes={"status": ReplyStatus.VISIBLE},
    ),
    Endpoint(
        "dismiss flags",
        "POST",
        REPLY_PAGE + "/dismiss",
        {},
        ok=303,
        goes_to="/mod/flags",
        action=AuditAction.DISMISS_FLAGS,
        target="reply",
        changes={"open_flags": 0},
    ),
    Endpoint(
        "lock",
        "POST",
        "/a/{slug}/lock",
        {},
        ok=303,
        goes_to="/a/{slug}",
        action=AuditAction.LOCK,
        target="article",
        changes={"locked": True},
    ),
    Endpoint(
        "unlock",
        "POST",
        "/a/{slug}/unlock",
        {},
        needs="locked",
        ok=303,
        goes_to="/a/{slug}",
        action=AuditAction.UNLOCK,
        target="article",
        changes={"locked": False},
    ),
    Endpoint("flag queue", "GET", "/mod/flags"),
    Endpoint("audit log", "GET", "/mod/log"),
    Endpoint(
        "suspend",
        "POST",
        "/u/{user}/suspend",
        {"reason": "Spamming", "days": "7"},
        ok=303,
        goes_to="/u/{user}",
        action=AuditAction.SUSPEND,
        target="user",
        changes={"author_suspended": True},
    ),
    Endpoint(
        "unsuspend",
        "POST",
        "/u/{user}/unsuspend",
        {},
        needs="suspended",
        ok=303,
        goes_to="/u/{user}",
        action=AuditAction.UNSUSPEND,
        target="user",
        changes={"author_suspended": False},
    ),
    Endpoint("moderators' live queue", "WS", "/mod/live"),
]
ROLES = ["signed out", "reader", "author", "moderator", "suspended moderator"]


@pytest_asyncio.fixture
async def scene(server: LiveServer, cast: Cast) -> AsyncIterator[Scene]:
    """A fresh scene, removed afterwards (articles take their replies and flags with them)."""
    slug = unique_name("moderated").replace("_", "-")
    article = await Article.create(
        slug=slug, title=f"Moderated {slug}", body_markdown="Text.\n", body_html="<p>Text.</p>\n"
    )
    author = await enrol(server, "author")
    author_row = await user_row(author)
    poster = await user_row(cast.poster)
    reply = await Reply.create(
        article=article,
        author=author_row,
        source="A reply",
        html="<p>A reply</p>\n",
        has_replies=True,  # as the reply service keeps it: the answer below is created next
    )
    await Reply.create(
        article=article,
        author=poster,
        parent=reply,
        depth=1,
        ancestry=f"{reply.id}/",
        source="An answer",
        html="<p>An answer</p>\n",
    )
    await Flag.create(reply=reply, user=poster, reason=HideReason.SPAM)
    yield Scene(article, author, reply)
    await author.client.aclose()
    await article.delete()
    await author_row.delete()


async def prepare(scene: Scene, needs: str) -> None:
    """Put the scene in the state the endpoint acts on."""
    if needs == "hidden":
        await Reply.filter(id=scene.reply.id).update(
            status=ReplyStatus.HIDDEN, hidden_reason=HideReason.SPAM
        )
    elif needs == "locked":
        await Article.filter(id=scene.article.id).update(locked=True)
    elif needs == "suspended":
        await User.filter(username_key=scene.author.username.lower()).update(
            suspended_until=datetime.now(UTC) + timedelta(days=1), suspension_reason="Spamming"
        )


async def call(endpoint: Endpoint, scene: Scene, caller: Member) -> httpx.Response:
    """Call the endpoint the way its own client would: JSON for the API, a form for pages."""
    path = scene.path(endpoint.path)
    if endpoint.method == "GET":
        return await caller.client.get(path)
    if endpoint.is_api:
        return await api(caller, path, endpoint.form)
    return await caller.client.post(path, data=endpoint.form, headers=caller.headers())


async def audit_entries_after(last_id: int) -> list[AuditEntry]:
    """The audit entries written since last_id."""
    return await AuditEntry.filter(id__gt=last_id).order_by("id")


async def last_audit_id() -> int:
    """The newest audit entry's id (0 when there is none)."""
    newest = await AuditEntry.all().order_by("-id").first()
    return newest.id if newest else 0


def check_refused(endpoint: Endpoint, role: str, response: httpx.Response) -> None:
    """Signed out: 401, or to the sign-in page; everyone else: 403 saying why."""
    if role == "signed out" and endpoint.is_api:
        assert response.status_code == 401, response.text
        assert response.json() == {"errors": {"detail": "Sign in first."}}
    elif role == "signed out":
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login?next=")
    else:
        assert response.status_code == 403, response.text
        # The author is suspended when the endpoint lifts suspensions.
        suspended = {"suspended moderator", "author" if endpoint.needs == "suspended" else ""}
        why = "Your account is suspended" if role in suspended else "Only moderators may do that."
        assert why in error_message(response)


async def check_mod_socket(
    server: LiveServer, cast: Cast, scene: Scene, caller: Member, role: str
) -> None:
    """Only active moderators may open /mod/live; it carries the flag queue as it changes."""
    if role != "moderator":
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with open_socket(server, "/mod/live", caller):
                pass
        assert refused.value.response.status_code == 403
        return
    async with open_socket(server, "/mod/live", caller) as ws:
        flagged = await api(cast.reader, f"/api/replies/{scene.reply.id}/flags", {"reason": "spam"})
        assert flagged.status_code == 201, flagged.text
        frame = await next_event(ws)
        assert frame["type"] == "flags.changed"
        queue = partials(frame)["#flag-queue"]
        assert queue.select_one(f"#flag-item-{scene.reply.id}") is not None
    # The reader's flag, not the socket, changed the scene: take it back.
    await Flag.filter(reply_id=scene.reply.id, user__username=cast.reader.username).delete()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[endpoint.name for endpoint in ENDPOINTS])
async def test_only_active_moderators_moderate(
    server: LiveServer, cast: Cast, scene: Scene, endpoint: Endpoint, role: str
) -> None:
    caller = {
        "signed out": cast.visitor,
        "reader": cast.reader,
        "author": scene.author,
        "moderator": cast.moderator,
        "suspended moderator": cast.suspended_moderator,
    }[role]
    await prepare(scene, endpoint.needs)
    before, last_id = await scene.state(), await last_audit_id()

    if endpoint.is_socket:
        await check_mod_socket(server, cast, scene, caller, role)
        assert await scene.state() == before
        assert await audit_entries_after(last_id) == []
        return

    response = await call(endpoint, scene, caller)
    written = await audit_entries_after(last_id)
    if role != "moderator":
        check_refused(endpoint, role, response)
        assert await scene.state() == before, "a refused call changes nothing"
        assert written == [], "a refused call writes no audit entry"
        return

    assert response.status_code == endpoint.ok, response.text
    if endpoint.goes_to:
        assert response.headers["location"].split("#")[0] == scene.path(endpoint.goes_to)
    assert await scene.state() == dataclasses.replace(before, **endpoint.changes)
    if endpoint.action is None:
        assert written == [], "reading writes nothing"
        return
    [entry] = written
    assert (entry.action, entry.target_type) == (endpoint.action, endpoint.target)
    assert entry.target_id == await scene.target_id(endpoint.target)
    assert entry.actor_name == cast.moderator.username


async def test_a_moderators_bad_input_writes_nothing(cast: Cast, scene: Scene) -> None:
    before, last_id = await scene.state(), await last_audit_id()
    for payload in ({"reason": "boring"}, {"reason": "other"}, {"reason": "spam", "note": 3}):
        response = await api(cast.moderator, f"/api/replies/{scene.reply.id}/hide", payload)
        assert response.status_code == 422, response.text
    response = await api(cast.moderator, f"/api/users/{scene.author.username}/suspend", {})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["reason"]
    assert await scene.state() == before
    assert await audit_entries_after(last_id) == []


async def test_the_longest_suspension_reason_fits_the_audit_log(cast: Cast, scene: Scene) -> None:
    last_id = await last_audit_id()
    reason = "Too long; " * 50
    response = await api(
        cast.moderator, f"/api/users/{scene.author.username}/suspend", {"reason": reason}
    )
    assert response.status_code == 200, response.text
    assert (await user_row(scene.author)).suspension_reason == reason.strip()
    [entry] = await audit_entries_after(last_id)
    assert entry.note.startswith("until 9999-01-01 00:00: Too long;")


async def test_the_audit_log_lists_actions_newest_first(cast: Cast, scene: Scene) -> None:
    await hide(cast.moderator, scene.reply.id, note="First")
    unhidden = await api(cast.moderator, f"/api/replies/{scene.reply.id}/unhide")
    assert unhidden.status_code == 200
    log = await cast.moderator.client.get(
        "/api/mod/log", params={"actor": cast.moderator.username.upper()}
    )
    entries = log.json()["entries"]
    assert [(e["action"], e["target_id"]) for e in entries[:2]] == [
        ("unhide", scene.reply.id),
        ("hide", scene.reply.id),
    ]
    assert entries[1]["reason"] == "abuse" and entries[1]["note"] == "First"
    page = parse((await cast.moderator.client.get("/mod/log?action=hide")).text)
    assert page.find(string=lambda text: bool(text and f"reply {scene.reply.id}" in text))


# Flags -------------------------------------------------------------------------------------


async def test_a_reader_flags_a_reply_once(cast: Cast, scene: Scene) -> None:
    path = f"/api/replies/{scene.reply.id}/flags"
    first = await api(cast.reader, path, {"reason": "abuse", "note": "Rude"})
    assert first.status_code == 201, first.text
    assert first.json()["reply_id"] == scene.reply.id
    again = await api(cast.reader, path, {"reason": "spam"})
    assert again.status_code == 409
    assert again.json() == {"errors": {"reply": "You have already flagged this reply."}}
    assert await Flag.filter(reply_id=scene.reply.id).count() == 2, "the scene's and this one"


async def test_the_queue_is_most_flagged_first(
    server: LiveServer, cast: Cast, fresh_article: Article
) -> None:
    flaggers = [await enrol(server, "flagger") for _ in range(3)]
    try:
        once, thrice, twice = [
            await post_reply(cast.poster, fresh_article.slug, f"Flag me {i}") for i in range(3)
        ]
        for reply_id, count in ((once, 1), (thrice, 3), (twice, 2)):
            for flagger in flaggers[:count]:
                response = await api(flagger, f"/api/replies/{reply_id}/flags", {"reason": "spam"})
                assert response.status_code == 201, response.text
    finally:
        for flagger in flaggers:
            await flagger.client.aclose()

    queue = (await cast.moderator.client.get("/api/mod/flags")).json()["flags"]
    mine = [
        (item["reply_id"], item["flag_count"])
        for item in queue
        if item["reply_id"] in (once, thrice, twice)
    ]
    assert mine == [(thrice, 3), (twice, 2), (once, 1)]
    page = parse((await cast.moderator.client.get("/mod/flags")).text)
    order = [str(item["id"]) for item in page.select("#flag-queue > .flag-item")]
    ids = [f"flag-item-{reply_id}" for reply_id in (thrice, twice, once)]
    assert [item for item in order if item in ids] == ids


# Hidden replies leak nowhere ---------------------------------------------------------------


async def crawl(client: httpx.AsyncClient, slug: str, reply_ids: list[int]) -> dict[str, str]:
    """Everywhere a reply of the thread can show up, as this client gets it: the text of every
    page, fragment and API answer, by what was asked for."""
    got: dict[str, str] = {}

    async def fetch(path: str, htmx: bool = False) -> httpx.Response:
        response = await client.get(path, headers=HTMX if htmx else None)
        got[path + (" (htmx)" if htmx else "")] = response.text
        return response

    # The thread in both orders and every "load more" and "show more" chunk reachable from it.
    pending = [f"/a/{slug}?order=newest", f"/a/{slug}?order=oldest"]
    pending += [f"/a/{slug}/r/{reply_id}" for reply_id in reply_ids]
    while pending:
        path = pending.pop()
        page = parse((await fetch(path, htmx="cursor=" in path or "after=" in path)).text)
        for link in page.select(".load-more[hx-get], .more-replies[hx-get]"):
            if str(link["hx-get"]) + " (htmx)" not in got:
                pending.append(str(link["hx-get"]))
    for reply_id in reply_ids:
        await fetch(f"/a/{slug}/r/{reply_id}?after=0", htmx=True)
        await fetch(f"/a/{slug}/r/{reply_id}/reply", htmx=True)
        await fetch(f"/a/{slug}/r/{reply_id}/reply")
        await fetch(f"/api/replies/{reply_id}")
        await fetch(f"/api/articles/{slug}/replies?parent={reply_id}")
    for order in ("newest", "oldest"):
        cursor: str | None = ""
        while cursor is not None:
            query = f"?order={order}" + (f"&cursor={cursor}" if cursor else "")
            cursor = (await fetch(f"/api/articles/{slug}/replies{query}")).json()["next_cursor"]
    for path in ("/", "/api/articles", f"/api/articles/{slug}", f"/a/{slug}/feed.atom"):
        await fetch(path)
    # Replies to one's own replies are notified.
    await fetch("/notifications")
    await fetch("/api/notifications")
    return got


def leaks(texts: dict[str, str], markers: list[str]) -> dict[str, int]:
    """Where the markers appear, and how often."""
    found = {where: sum(text.count(marker) for marker in markers) for where, text in texts.items()}
    return {where: count for where, count in found.items() if count}


async def reply_counts(client: httpx.AsyncClient, slug: str) -> dict[str, int]:
    """The article's reply count wherever it is shown."""
    index = parse((await client.get("/")).text)
    listed = index.select_one(f'.article-item:has(a[href="/a/{slug}"]) .reply-count')
    articles = (await client.get("/api/articles")).json()["articles"]
    page = parse((await client.get(f"/a/{slug}")).text).select_one("#reply-count")
    assert listed is not None and page is not None
    return {
        "index page": int(str(listed["data-count"])),
        "GET /api/articles": next(a["reply_count"] for a in articles if a["slug"] == slug),
        "GET /api/articles/{slug}": (await client.get(f"/api/articles/{slug}")).json()[
            "reply_count"
        ],
        "article page": int(str(page["data-count"])),
    }


@pytest_asyncio.fixture
async def author(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """A member of the test's own (made in the database), for replies to be moderated."""
    someone = await enrol(server, "author")
    yield someone
    await someone.client.aclose()


@dataclass
class HiddenThread:
    """A reply X hidden in a thread: X is the second of four answers to a top-level reply P,
    and P sits behind "load more" when the newest replies come first."""

    slug: str
    parent: int
    first_answer: int
    hidden: int
    #: A reply to X, when it has one.
    child: int | None
    author: Member
    #: X's text, its author's name and the moderator's note: seen by no reader.
    markers: list[str]
    body_marker: str
    #: Replies that count (all but X).
    visible: int

    @property
    def reply_ids(self) -> list[int]:
        ids = [self.parent, self.first_answer, self.hidden]
        return ids + ([self.child] if self.child else [])


async def write_thread(
    cast: Cast, article: Article, author: Member, *, with_child: bool
) -> HiddenThread:
    """Write the thread through the API (its filler through the database), X not hidden yet."""
    slug = article.slug
    body_marker = f"leak-{secrets.token_hex(6)}"
    parent = await post_reply(cast.poster, slug, "The parent")
    poster = await user_row(cast.poster)
    filler = SETTINGS.page_size
    for i in range(filler):
        await Reply.create(article=article, author=poster, source=f"{i}", html=f"<p>{i}</p>\n")
    # As posting them one by one would have.
    await Article.filter(id=article.id).update(reply_count=F("reply_count") + filler)
    first = await post_reply(cast.poster, slug, "First answer", parent)
    hidden = await post_reply(author, slug, f"Do not repeat {body_marker}", parent)
    await post_reply(cast.poster, slug, "Third answer", parent)
    await post_reply(cast.poster, slug, "Fourth answer", parent)
    child = await post_reply(cast.poster, slug, "Answer to X", hidden) if with_child else None
    note_marker = f"note-{secrets.token_hex(6)}"
    return HiddenThread(
        slug=slug,
        parent=parent,
        first_answer=first,
        hidden=hidden,
        child=child,
        author=author,
        markers=[body_marker, author.username, note_marker],
        body_marker=body_marker,
        visible=1 + filler + 3 + (1 if with_child else 0),
    )


def check_reader_frame(frame: Message, thread: HiddenThread) -> None:
    """What a reader's page is told about X being hidden: gone, or a stub above its replies."""
    assert (frame["type"], frame["reply_id"]) == ("reply.hidden", thread.hidden)
    assert "author" not in frame
    swaps = partials(frame)
    assert int(str(swaps["#reply-count"].select_one("#reply-count")["data-count"])) == (
        thread.visible
    )
    if thread.child is None:
        assert frame["op"] == "remove"
        assert f"#reply-{thread.hidden}" in swaps
    else:
        assert frame["op"] == "replace"
        main = swaps[f"#reply-{thread.hidden}-main"]
        assert main.select_one(".stub").get_text() == "[removed by a moderator]"
        assert main.select_one(".reply-body, .author") is None


@pytest.mark.parametrize("with_child", [False, True], ids=["without replies", "with a reply"])
async def test_a_hidden_reply_leaks_nowhere(
    server: LiveServer, cast: Cast, fresh_article: Article, author: Member, with_child: bool
) -> None:
    live = f"/a/{fresh_article.slug}/live"
    readers = {
        "signed out": cast.visitor,
        "a reader": cast.reader,
        "the author of the reply X answers": cast.poster,
    }
    async with contextlib.AsyncExitStack() as stack:
        # A reader whose page saw X posted, then went offline (and comes back below).
        offline = await stack.enter_async_context(open_socket(server, live, cast.reader))
        thread = await write_thread(cast, fresh_article, author, with_child=with_child)
        seen = 0
        while seen == 0:
            frame = await next_event(offline)
            seen = frame["seq"] if frame["reply_id"] == thread.hidden else 0
        await offline.close()

        pages = {
            name: await stack.enter_async_context(open_socket(server, live, member))
            for name, member in {**readers, "the moderator": cast.moderator}.items()
        }
        await hide(cast.moderator, thread.hidden, note=thread.markers[2])
        pushed = {name: await next_event(page) for name, page in pages.items()}
    last_seq = (await Article.get(id=fresh_article.id)).last_seq

    async with open_socket(server, live, cast.reader) as back:
        await resume(back, seen)
        caught_up = [await next_event(back) for _ in range(last_seq - seen)]
    from_the_start: dict[str, list[Message]] = {}
    for name, member in {**readers, "the moderator": cast.moderator}.items():
        async with open_socket(server, live, member) as page:
            await resume(page, 0)
            from_the_start[name] = [await next_event(page) for _ in range(last_seq)]

    for name in readers:
        check_reader_frame(pushed[name], thread)
        assert leaks({"pushed": json.dumps(pushed[name])}, thread.markers) == {}, name
        replayed = {str(frame["seq"]): json.dumps(frame) for frame in from_the_start[name]}
        assert leaks(replayed, thread.markers) == {}, name
    assert [frame["seq"] for frame in caught_up] == list(range(seen + 1, last_seq + 1))
    check_reader_frame(caught_up[-1], thread)
    assert leaks({"caught up": json.dumps(caught_up)}, thread.markers) == {}

    moderators = pushed["the moderator"]
    assert (moderators["op"], moderators["author"]) == ("replace", thread.author.username)
    main = partials(moderators)[f"#reply-{thread.hidden}-main"]
    assert thread.markers[2] in main.select_one(".hidden-marker").get_text()
    assert thread.body_marker in main.select_one(".reply-body").get_text()
    assert thread.body_marker in json.dumps(from_the_start["the moderator"])

    # A suspended moderator moderates nothing, sees nothing hidden, and has no live page.
    with pytest.raises(websockets.InvalidStatus):
        async with open_socket(server, live, cast.suspended_moderator):
            pass
    readers["a suspended moderator"] = cast.suspended_moderator
    viewers = {**readers, "the author": thread.author, "the moderator": cast.moderator}
    crawled = dict(
        zip(
            viewers,
            await asyncio.gather(
                *(crawl(m.client, thread.slug, thread.reply_ids) for m in viewers.values())
            ),
            strict=True,
        )
    )
    for name in readers:
        assert leaks(crawled[name], thread.markers) == {}, name
    # Those who may see X find it in every kind of sink the crawl visits: the sweep is thorough.
    slug, parent = thread.slug, thread.parent
    sinks = {
        f"/a/{slug}?order=oldest",
        f"/a/{slug}/r/{parent}",
        f"/a/{slug}/r/{parent}?after=0 (htmx)",
        f"/a/{slug}/r/{thread.hidden}",
        f"/api/replies/{thread.hidden}",
        f"/api/articles/{slug}/replies?parent={parent}",
    }
    for name in ("the author", "the moderator"):
        seen_by = crawled[name]
        found = leaks(seen_by, [thread.body_marker])
        assert sinks <= set(found), (name, found)
        assert any(f"/a/{slug}?order=newest&cursor=" in where for where in found), "load more"
        page = parse(seen_by[f"/a/{slug}?order=oldest"])
        shown = page.select_one(f"#reply-{thread.hidden}-main")
        assert shown is not None and shown.select_one(".hidden-marker") is not None, name
        assert thread.body_marker in shown.select_one(".reply-body").get_text()
        api_reply = json.loads(seen_by[f"/api/replies/{thread.hidden}"])
        assert api_reply["author"] == thread.author.username
    for name, member in viewers.items():
        counts = await reply_counts(member.client, thread.slug)
        assert set(counts.values()) == {thread.visible}, (name, counts)

    # What readers see in its place.
    for name, member in readers.items():
        permalink = await member.client.get(f"/a/{thread.slug}/r/{thread.hidden}")
        api_reply = await member.client.get(f"/api/replies/{thread.hidden}")
        if thread.child is None:
            assert (permalink.status_code, api_reply.status_code) == (404, 404), name
            continue
        stub = parse(permalink.text).select_one(f"#reply-{thread.hidden}-main .stub")
        assert stub is not None and stub.get_text() == "[removed by a moderator]"
        assert api_reply.json()["author"] is None and api_reply.json()["body_html"] == ""
        child_page = parse((await member.client.get(f"/a/{thread.slug}/r/{thread.child}")).text)
        context = child_page.select_one(f".context #reply-{thread.hidden} .stub")
        assert context is not None and context.get_text() == "[removed by a moderator]"


async def test_the_author_is_pushed_their_hidden_reply_marked_hidden(
    server: LiveServer, cast: Cast, fresh_article: Article
) -> None:
    author = await enrol(server, "author")
    try:
        reply_id = await post_reply(author, fresh_article.slug, "Mine")
        async with open_socket(server, f"/a/{fresh_article.slug}/live", author) as page:
            await hide(cast.moderator, reply_id)
            frame = await next_event(page)
    finally:
        await author.client.aclose()
    assert (frame["type"], frame["op"]) == ("reply.hidden", "replace")
    main = partials(frame)[f"#reply-{reply_id}-main"]
    assert main.select_one(".hidden-marker") is not None
    assert main.select_one(".reply-body").get_text(strip=True) == "Mine"


async def test_suspending_with_hide_replies_hides_them_all(
    server: LiveServer, cast: Cast, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    author = await enrol(server, "spammer")
    marker = f"spam-{secrets.token_hex(6)}"
    try:
        alone = await post_reply(author, slug, f"Buy {marker}")
        answered = await post_reply(author, slug, f"Cheap {marker}")
        answer = await post_reply(cast.poster, slug, "No thanks", answered)
        nested = await post_reply(author, slug, f"Really cheap {marker}", answer)
        async with open_socket(server, f"/a/{slug}/live", cast.reader) as page:
            last_id = await last_audit_id()
            suspended = await api(
                cast.moderator,
                f"/api/users/{author.username}/suspend",
                {"reason": "Spam", "hide_replies": True},
            )
            assert suspended.status_code == 200, suspended.text
            assert suspended.json()["suspended"] is True
            pushed = [await next_event(page) for _ in range(3)]
    finally:
        await author.client.aclose()

    entries = await audit_entries_after(last_id)
    assert [(e.action, e.target_id) for e in entries] == [
        (AuditAction.SUSPEND, (await user_row(author)).id),
        (AuditAction.HIDE, alone),
        (AuditAction.HIDE, answered),
        (AuditAction.HIDE, nested),
    ]
    statuses = dict(await Reply.filter(article_id=fresh_article.id).values_list("id", "status"))
    assert statuses == {
        alone: ReplyStatus.HIDDEN,
        answered: ReplyStatus.HIDDEN,
        answer: ReplyStatus.VISIBLE,
        nested: ReplyStatus.HIDDEN,
    }
    assert [(f["type"], f["op"], f["reply_id"]) for f in pushed] == [
        ("reply.hidden", "remove", alone),
        ("reply.hidden", "replace", answered),
        ("reply.hidden", "remove", nested),
    ]
    assert leaks({str(f["seq"]): json.dumps(f) for f in pushed}, [marker, author.username]) == {}
    for member in (cast.visitor, cast.reader):
        texts = await crawl(member.client, slug, [answered, answer])
        assert leaks(texts, [marker, author.username]) == {}
    texts = await crawl(cast.moderator.client, slug, [answered, answer])
    assert leaks(texts, [marker])


async def test_the_reply_count_follows_every_change(
    server: LiveServer, cast: Cast, fresh_article: Article
) -> None:
    """The count stored on the article (read by every page) stays equal to a count of the
    visible replies through posts, deletions, hiding, unhiding, suspensions and a race."""
    slug = fresh_article.slug
    author = await enrol(server, "counted")
    second_moderator = await enrol(server, "mod", role=Role.MODERATOR)

    async def check(expected: int) -> None:
        stored = (await Article.get(id=fresh_article.id)).reply_count
        counted = await Reply.filter(counted_replies(), article_id=fresh_article.id).count()
        assert (stored, counted) == (expected, expected)
        shown = await reply_counts(cast.reader.client, slug)
        assert set(shown.values()) == {expected}, shown

    try:
        top = await post_reply(cast.poster, slug, "Top")
        answer = await post_reply(author, slug, "Answer", top)
        other = await post_reply(cast.poster, slug, "Other")
        leaf = await post_reply(cast.poster, slug, "Leaf", answer)
        await check(4)
        deleted = await cast.poster.client.delete(
            f"/api/replies/{leaf}", headers=cast.poster.headers()
        )
        assert deleted.status_code == 204, deleted.text
        await check(3)
        stubbed = await cast.poster.client.delete(
            f"/api/replies/{top}", headers=cast.poster.headers()
        )
        assert stubbed.status_code == 204, stubbed.text  # kept as a stub: it has an answer
        await check(2)
        # Two moderators hide the same reply at once: it leaves the count once.
        both = await asyncio.gather(
            *(
                api(moderator, f"/api/replies/{other}/hide", {"reason": "spam"})
                for moderator in (cast.moderator, second_moderator)
            )
        )
        assert sorted(response.status_code for response in both)[0] == 200
        await check(1)
        await hide(cast.moderator, other, "hidden again")
        await check(1)
        unhidden = await api(cast.moderator, f"/api/replies/{other}/unhide")
        assert unhidden.status_code == 200, unhidden.text
        await check(2)
        suspended = await api(
            cast.moderator,
            f"/api/users/{author.username}/suspend",
            {"reason": "Testing counts", "hide_replies": True},
        )
        assert suspended.status_code == 200, suspended.text
        await check(1)
    finally:
        await author.client.aclose()
        await second_moderator.client.aclose()


# Locked threads ----------------------------------------------------------------------------


def compose_area(html: str) -> Tag:
    """Where a page offers to write a top-level reply."""
    compose = parse(html).select_one("#compose")
    assert compose is not None
    return compose


def lock_button(html: str) -> Tag | None:
    """The moderators' lock or unlock form, if the page shows it."""
    return parse(html).select_one("form.mod-tools")


async def test_a_locked_thread_takes_no_new_replies(
    server: LiveServer, cast: Cast, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    page = await cast.moderator.client.get(f"/a/{slug}")
    button = lock_button(page.text)
    assert button is not None and button["action"] == f"/a/{slug}/lock"
    assert button.get_text(strip=True) == "Lock the discussion"
    assert lock_button((await cast.reader.client.get(f"/a/{slug}")).text) is None

    async with open_socket(server, f"/a/{slug}/live", cast.reader) as reader_page:
        locked = await api(cast.moderator, f"/api/articles/{slug}/lock")
        assert locked.json() == {"slug": slug, "locked": True}
        frame = await next_event(reader_page)
    assert (frame["type"], frame["locked"]) == ("thread.locked", True)
    assert partials(frame)["#lock-state"].select_one(".locked-notice") is not None

    refused = await cast.reader.post_reply("Too late", slug=slug)
    assert refused.status_code == 403
    assert refused.json() == {"errors": {"detail": "This discussion is locked: no new replies."}}
    form = await cast.reader.client.post(
        f"/a/{slug}/replies", data={"body": "Too late"}, headers=cast.reader.headers()
    )
    assert form.status_code == 403
    assert "locked" in error_message(form)
    assert await Reply.filter(article_id=fresh_article.id).count() == 0

    for member in (cast.visitor, cast.reader):
        html = (await member.client.get(f"/a/{slug}")).text
        compose = compose_area(html)
        assert compose.select_one(".locked-notice") is not None
        assert compose.select_one("form.reply-form") is None
        assert lock_button(html) is None
    html = (await cast.moderator.client.get(f"/a/{slug}")).text
    button = lock_button(html)
    assert button is not None and button["action"] == f"/a/{slug}/unlock"
    assert button.get_text(strip=True) == "Unlock the discussion"
    assert compose_area(html).select_one("form.reply-form") is not None, "moderators may reply"
    assert (await cast.moderator.post_reply("Locked, and why", slug=slug)).status_code == 201

    async with open_socket(server, f"/a/{slug}/live", cast.reader) as reader_page:
        unlocked = await api(cast.moderator, f"/api/articles/{slug}/unlock")
        assert unlocked.json() == {"slug": slug, "locked": False}
        frame = await next_event(reader_page)
    assert (frame["type"], frame["locked"]) == ("thread.unlocked", False)
    assert (await cast.reader.post_reply("Open again", slug=slug)).status_code == 201


# Suspensions -------------------------------------------------------------------------------


async def test_a_suspension_ends_sessions_and_refuses_sign_in(
    server: LiveServer, cast: Cast, fresh_article: Article
) -> None:
    target = await sign_up(server)
    credentials = {"username": target.username, "password": PASSWORD}
    until = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    try:
        suspended = await api(
            cast.moderator,
            f"/api/users/{target.username}/suspend",
            {"reason": "Spam links", "until": until.isoformat()},
        )
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["suspended"] is True
        assert await Session.filter(user__username_key=target.username.lower()).count() == 0

        posted = await target.post_reply("Still here?", slug=fresh_article.slug)
        assert posted.status_code == 401
        message = f"Your account is suspended until {until:%Y-%m-%d %H:%M} UTC: Spam links"
        signed_in = await target.client.post("/api/session", json=credentials)
        assert signed_in.status_code == 403
        assert signed_in.json() == {"errors": {"detail": message}}
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as browser:
            field = parse((await browser.get("/login")).text).select_one("[name=csrf_token]")
            assert field is not None
            form = await browser.post("/login", data={**credentials, "csrf_token": field["value"]})
        assert form.status_code == 403
        error = parse(form.text).select_one("#field-password-error")
        assert error is not None and error.get_text(strip=True) == message
        assert await Reply.filter(article_id=fresh_article.id).count() == 0

        lifted = await api(cast.moderator, f"/api/users/{target.username}/unsuspend")
        assert lifted.json()["suspended"] is False
        assert (await target.client.post("/api/session", json=credentials)).status_code == 200
    finally:
        await target.client.aclose()


async def test_a_suspended_users_open_page_is_told_and_closed(
    server: LiveServer, cast: Cast, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    target = await enrol(server, "target")
    try:
        async with open_socket(server, f"/a/{slug}/live", target) as page:
            suspended = await api(
                cast.moderator, f"/api/users/{target.username}/suspend", {"reason": "Trolling"}
            )
            assert suspended.status_code == 200, suspended.text
            # Something else happens in the thread: the suspension must have come first.
            await post_reply(cast.poster, slug, "Meanwhile")
            frame = await next_event(page)
            assert frame["type"] == "suspended", frame
            with pytest.raises(websockets.ConnectionClosed):
                async with asyncio.timeout(TIMEOUT):
                    while True:
                        await page.recv()
            assert page.close_code == CLOSE_SUSPENDED
    finally:
        await target.client.aclose()
