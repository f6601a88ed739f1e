"""Who may call what, over the app's own route table: every route declares a rule, every caller
the rule keeps out is refused (401/403 or sent to sign in) and writes nothing, and no route that
takes a reply id shows a hidden reply's text to anyone who may not read it."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from tortoise import Tortoise

from forum.access import Access
from forum.app import create_app
from forum.settings import Settings
from models import (
    Article,
    AuditEntry,
    Flag,
    HideReason,
    Reply,
    ReplyRevision,
    ReplyStatus,
    Role,
    User,
)
from tests.conftest import LiveServer, Member, unique_name
from tests.test_moderation import enrol, open_socket, parse, user_row, visitor

HTMX = {"HX-Request": "true"}
ROUTES: list[BaseRoute] = list(create_app(Settings(secret_key="test")).routes)

#: Who passes each rule: what the rules mean, written down independently of forum.access.
CALLERS = [
    "signed out",
    "reader",
    "author",
    "moderator",
    "suspended moderator",
    "admin",
    "demoted moderator",
]
PASSES: dict[Access, set[str]] = {
    Access.ANYONE: set(CALLERS),
    Access.ACTIVE: {"reader", "author", "moderator", "admin", "demoted moderator"},
    Access.AUTHOR: {"author"},
    Access.MODERATOR: {"moderator", "admin"},
    Access.ADMIN: {"admin"},
}
#: What the guard says when it refuses a signed-in caller (a handler's own refusals differ).
GUARD_MESSAGES = ("Only moderators may do that.", "Only an admin may do that.", "suspended")


def route_methods(route: BaseRoute) -> list[str]:
    """The methods a route answers (WS for a WebSocket route)."""
    if isinstance(route, WebSocketRoute):
        return ["WS"]
    if isinstance(route, Route):
        return sorted((route.methods or {"GET"}) - {"HEAD"})
    return ["GET"]


def route_id(route: BaseRoute) -> str:
    return getattr(route, "path", repr(route))


# Every route has a rule --------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_every_route_declares_who_may_call_it(route: BaseRoute) -> None:
    assert isinstance(getattr(route, "access", None), Access), f"{route_id(route)} has no rule"


def test_unsafe_routes_open_to_anyone_are_only_those_that_establish_who_you_are() -> None:
    """Anything that changes state for everyone is behind a sign-in; the few open ones are
    named by what they do: signing in or out, registering, the signed unsubscribe link, and
    what mailed single-use links need (asking for one, opening one: the token is the key)."""
    open_writes = {
        route_id(route)
        for route in ROUTES
        if isinstance(route, Route)
        and getattr(route, "access", None) is Access.ANYONE
        and set(route.methods or ()) - {"GET", "HEAD"}
    }
    for path in open_writes:
        assert re.search(
            r"/(login|logout|register|accounts|session|unsubscribe/\{token\}|verify-email"
            r"|forgot-password|reset-password|password-reset(/confirm)?|sign-in(-link)?"
            r"|sign-in-link/confirm)$",
            path,
        ), f"{path} changes state and is open to anyone"


# The cast ----------------------------------------------------------------------------------------


@dataclass
class Scene:
    """An article with a reply by `author` that has an answer under it and an open flag."""

    article: Article
    reply: Reply
    callers: dict[str, Member]

    def fill(self, path: str) -> str:
        """The route's path with this scene's objects in it."""
        values = {
            "slug": self.article.slug,
            "reply_id": str(self.reply.id),
            "username": self.callers["author"].username,
            # Someone's session, perhaps: only its own account may end it.
            "session_id": "1",
            # An id no row has: the {..:id} convertor takes it, the handler finds nothing.
            "notification_id": "999999999",
        }
        # Any other parameter (a signed token, say) gets a value that names nothing.
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "not-a-value"), path)


@pytest_asyncio.fixture(scope="module")
async def scene(server: LiveServer, db: None) -> AsyncIterator[Scene]:
    """Every kind of caller, and the objects they act on."""
    callers = {
        "signed out": await visitor(server),
        "reader": await enrol(server, "reader"),
        "author": await enrol(server, "author"),
        "moderator": await enrol(server, "mod", role=Role.MODERATOR),
        "suspended moderator": await enrol(server, "exmod", role=Role.MODERATOR, suspended=True),
        "admin": await enrol(server, "admin", role=Role.ADMIN),
        "demoted moderator": await enrol(server, "demoted", role=Role.MODERATOR),
    }
    # Demoted after their session began: the session must not carry the old role.
    await User.filter(username_key=callers["demoted moderator"].username.lower()).update(
        role=Role.READER
    )
    slug = unique_name("access").replace("_", "-")
    article = await Article.create(
        slug=slug, title=f"Access {slug}", body_markdown="Text.\n", body_html="<p>Text.</p>\n"
    )
    author = await user_row(callers["author"])
    reader = await user_row(callers["reader"])
    reply = await Reply.create(
        article=article, author=author, source="A reply", html="<p>A reply</p>\n", has_replies=True
    )
    await Reply.create(
        article=article,
        author=reader,
        parent=reply,
        depth=1,
        ancestry=f"{reply.id}/",
        source="An answer",
        html="<p>An answer</p>\n",
    )
    await Flag.create(reply=reply, user=reader, reason=HideReason.SPAM)
    yield Scene(article, reply, callers)
    for member in callers.values():
        await member.client.aclose()
    await article.delete()


async def database_state(scene: Scene) -> dict[str, Any]:
    """Row counts of every table, and every row a refused call could change in place."""
    state: dict[str, Any] = {}
    for name, model in Tortoise.apps["models"].items():
        state[f"rows in {name}"] = await model.all().count()
    usernames = [member.username.lower() for member in scene.callers.values() if member.username]
    state["users"] = await User.filter(username_key__in=usernames).order_by("id").values()
    state["article"] = await Article.filter(id=scene.article.id).values()
    state["replies"] = await Reply.filter(article_id=scene.article.id).order_by("id").values()
    state["flags"] = await Flag.filter(reply_id=scene.reply.id).order_by("id").values()
    state["audit"] = await AuditEntry.all().order_by("-id").limit(1).values("id")
    return state


async def send(member: Member, method: str, path: str, *, htmx: bool = False) -> httpx.Response:
    """Call a route as its own client would, with what its forms or JSON carry."""
    headers = {**member.headers(), **(HTMX if htmx else {})}
    if method == "GET":
        return await member.client.get(path, headers=HTMX if htmx else None)
    payload = {
        "body": "Words",
        "reason": "spam",
        "note": "a note",
        "role": "admin",
        "days": "7",
        "username": "someone",
        "password": "a password",
    }
    if path.startswith("/api/"):
        return await member.client.request(method, path, json=payload, headers=headers)
    data = {**payload, "csrf_token": member.csrf}
    return await member.client.request(method, path, data=data, headers=headers)


def assert_refused(caller: str, path: str, response: httpx.Response) -> None:
    """Signed out: 401 (API, htmx) or to the sign-in page; anyone else: 403."""
    where = f"{caller} {response.request.method} {path}"
    if caller == "signed out":
        if path.startswith("/api/"):
            assert response.status_code == 401, where
            assert response.json() == {"errors": {"detail": "Sign in first."}}, where
        elif response.request.headers.get("hx-request"):
            assert response.status_code == 401, where
            assert response.headers["hx-redirect"].startswith("/login?next="), where
        else:
            assert response.status_code == 303, where
            assert response.headers["location"].startswith("/login?next="), where
    else:
        assert response.status_code == 403, (where, response.text[:300])


HTTP_CASES = [
    pytest.param(route, method, id=f"{method} {route_id(route)}")
    for route in ROUTES
    if not isinstance(route, Mount | WebSocketRoute)
    for method in route_methods(route)
]


@pytest.mark.parametrize(("route", "method"), HTTP_CASES)
async def test_callers_the_rule_keeps_out_are_refused_and_write_nothing(
    scene: Scene, route: Route, method: str
) -> None:
    rule: Access = route.access  # type: ignore[attr-defined]
    path = scene.fill(route.path)
    for caller in CALLERS:
        member = scene.callers[caller]
        if caller in PASSES[rule]:
            if method == "GET":
                response = await send(member, method, path)
                # Let in: whatever the handler answers, it is not the guard's refusal.
                assert response.status_code != 401, (caller, path)
                assert not response.headers.get("location", "").startswith("/login"), caller
                if response.status_code == 403:
                    assert not any(m in response.text for m in GUARD_MESSAGES), (caller, path)
            continue
        for htmx in (False, True):
            before = await database_state(scene)
            response = await send(member, method, path, htmx=htmx)
            assert_refused(caller, path, response)
            assert await database_state(scene) == before, f"{caller} {method} {path} wrote"


SOCKETS = [route for route in ROUTES if isinstance(route, WebSocketRoute)]


@pytest.mark.parametrize("route", SOCKETS, ids=route_id)
async def test_sockets_refuse_callers_the_rule_keeps_out(
    server: LiveServer, scene: Scene, route: WebSocketRoute
) -> None:
    rule: Access = route.access  # type: ignore[attr-defined]
    path = scene.fill(route.path)
    for caller in CALLERS:
        member = scene.callers[caller]
        signed_in = member if caller != "signed out" else None
        if caller in PASSES[rule] and caller != "suspended moderator":
            async with open_socket(server, path, signed_in):
                pass
            continue
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with open_socket(server, path, signed_in):
                pass
        assert refused.value.response.status_code == 403, caller


async def test_a_signed_out_visitor_cannot_make_anyone_an_admin(scene: Scene) -> None:
    """The reported hole: a visitor's CSRF token and POST /u/{name}/role."""
    visitor_client = scene.callers["signed out"]
    target = scene.callers["author"]
    response = await visitor_client.client.post(
        f"/u/{target.username}/role", data={"csrf_token": visitor_client.csrf, "role": "admin"}
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert (await user_row(target)).role == Role.READER


# Hidden replies on every route that takes a reply id or a member ---------------------------------


#: Routes that name a reply, or a member (whose page and API list their replies): the scene's
#: author wrote the hidden replies.
REPLY_ROUTES = [
    pytest.param(route, method, id=f"{method} {route_id(route)}")
    for route in ROUTES
    if isinstance(route, Route) and ("{reply_id" in route.path or "{username" in route.path)
    for method in route_methods(route)
]


@pytest_asyncio.fixture(scope="module")
async def hidden(scene: Scene) -> AsyncIterator[dict[str, Reply]]:
    """Two hidden replies with a marker in their text and note: one with an answer (shown to
    readers as a stub), one without (not shown at all)."""
    author = await user_row(scene.callers["author"])
    reader = await user_row(scene.callers["reader"])
    replies: dict[str, Reply] = {}
    for shape in ("with an answer", "without answers"):
        marker = f"hidden-{secrets.token_hex(6)}"
        reply = await Reply.create(
            article=scene.article,
            author=author,
            source=f"Secret {marker}",
            html=f"<p>Secret {marker}</p>\n",
            status=ReplyStatus.HIDDEN,
            hidden_reason=HideReason.ABUSE,
            hidden_note=f"note {marker}",
            has_replies=shape == "with an answer",
        )
        # An earlier text with the marker too: the edit history must not show it either.
        await ReplyRevision.create(
            reply=reply,
            version=1,
            source=f"Earlier {marker}",
            html=f"<p>Earlier {marker}</p>\n",
            written_at=reply.created_at,
        )
        if shape == "with an answer":
            await Reply.create(
                article=scene.article,
                author=reader,
                parent=reply,
                depth=1,
                ancestry=f"{reply.id}/",
                source="Answer",
                html="<p>Answer</p>\n",
            )
        reply.source = marker  # the test's record of the marker
        replies[shape] = reply
    yield replies


@pytest.mark.parametrize(("route", "method"), REPLY_ROUTES)
async def test_no_route_that_takes_a_reply_id_or_a_member_shows_a_hidden_reply(
    scene: Scene, hidden: dict[str, Reply], route: Route, method: str
) -> None:
    readers = ["signed out", "reader", "demoted moderator", "suspended moderator"]
    for reply in hidden.values():
        marker = reply.source
        path = re.sub(r"\{reply_id(?::\w+)?\}", str(reply.id), scene.fill(route.path))
        for caller in readers:
            for htmx in (False, True):
                response = await send(scene.callers[caller], method, path, htmx=htmx)
                assert marker not in response.text, f"{caller} {method} {path} shows it"
                assert response.status_code < 500
    # The moderator does see it, on its permalink: the marker is findable.
    moderator = scene.callers["moderator"]
    shown = await moderator.client.get(f"/a/{scene.article.slug}/r/{hidden['with an answer'].id}")
    assert hidden["with an answer"].source in shown.text
    history = await moderator.client.get(f"/api/replies/{hidden['without answers'].id}/revisions")
    assert f"Earlier {hidden['without answers'].source}" in history.text


async def test_the_moderators_and_the_author_find_hidden_replies_on_the_authors_page(
    scene: Scene, hidden: dict[str, Reply]
) -> None:
    """The other side of the sweep: the markers it looks for are there for those who may."""
    author = scene.callers["author"].username
    for caller in ("moderator", "author"):
        client = scene.callers[caller].client
        for path in (f"/u/{author}", f"/api/users/{author}"):
            text = (await client.get(path)).text
            assert all(reply.source in text for reply in hidden.values()), (caller, path)


async def test_the_forms_of_a_hidden_reply_with_answers_show_no_text(
    scene: Scene, hidden: dict[str, Reply]
) -> None:
    """The reported leak: edit, delete and flag forms of a stub."""
    reply = hidden["with an answer"]
    reader = scene.callers["reader"]
    for action in ("edit", "delete", "flag"):
        for headers in ({}, HTMX):
            response = await reader.client.get(
                f"/a/{scene.article.slug}/r/{reply.id}/{action}", headers=headers
            )
            assert reply.source not in response.text, action
            assert response.status_code in (403, 404), action
    # The page shows the stub where the reply was.
    page = parse((await reader.client.get(f"/a/{scene.article.slug}/r/{reply.id}")).text)
    stub = page.select_one(f"#reply-{reply.id}-main .stub")
    assert stub is not None and stub.get_text() == "[removed by a moderator]"


# Smaller promises ------------------------------------------------------------------------------


async def test_the_suspension_reason_is_for_moderators_and_the_member(
    server: LiveServer, scene: Scene
) -> None:
    member = await enrol(server, "suspendee")
    reason = f"reason-{secrets.token_hex(4)}"
    await User.filter(username_key=member.username.lower()).update(
        suspended_until=datetime.now(UTC) + timedelta(days=2), suspension_reason=reason
    )
    try:
        for caller, may_see in [
            ("signed out", False),
            ("reader", False),
            ("moderator", True),
            ("admin", True),
        ]:
            client = scene.callers[caller].client
            page = await client.get(f"/u/{member.username}")
            api = await client.get(f"/api/users/{member.username}")
            assert (reason in page.text) is may_see, caller
            assert (api.json()["suspension_reason"] == reason) is may_see, caller
            assert api.json()["suspended"] is True
        # The member themself (whose session a suspension set in the database left alive).
        own = await member.client.get(f"/api/users/{member.username}")
        assert own.json()["suspension_reason"] == reason
    finally:
        await member.client.aclose()


async def test_readers_cannot_flag_their_own_replies(scene: Scene) -> None:
    author = scene.callers["author"]
    before = await Flag.filter(reply_id=scene.reply.id).count()
    response = await author.client.post(
        f"/api/replies/{scene.reply.id}/flags", json={"reason": "spam"}, headers=author.headers()
    )
    assert response.status_code == 403
    assert "own reply" in response.json()["errors"]["detail"]
    form = await author.client.get(f"/a/{scene.article.slug}/r/{scene.reply.id}/flag")
    assert form.status_code == 403
    assert await Flag.filter(reply_id=scene.reply.id).count() == before


async def test_only_admins_suspend_moderators(server: LiveServer, scene: Scene) -> None:
    target = await enrol(server, "othermod", role=Role.MODERATOR)
    try:
        moderator, admin = scene.callers["moderator"], scene.callers["admin"]
        path = f"/api/users/{target.username}/suspend"
        refused = await moderator.client.post(
            path, json={"reason": "Testing"}, headers=moderator.headers()
        )
        assert refused.status_code == 403
        assert (await user_row(target)).suspended_until is None
        page = parse((await moderator.client.get(f"/u/{target.username}")).text)
        assert page.select_one(f'form[action="/u/{target.username}/suspend"]') is None
        done = await admin.client.post(path, json={"reason": "Testing"}, headers=admin.headers())
        assert done.status_code == 200, done.text
        assert (await user_row(target)).suspended_until is not None
    finally:
        await target.client.aclose()


async def test_a_suspended_members_private_feed_stops(server: LiveServer, scene: Scene) -> None:
    member = await enrol(server, "feeder")
    try:
        renewed = await member.client.post("/notifications/feed", data={"csrf_token": member.csrf})
        assert renewed.status_code == 303
        token = (await user_row(member)).feed_token
        async with httpx.AsyncClient(base_url=server.url) as reader:
            assert (await reader.get(f"/feeds/{token}/replies.atom")).status_code == 200
            await User.filter(username_key=member.username.lower()).update(
                suspended_until=datetime.now(UTC) + timedelta(days=1)
            )
            assert (await reader.get(f"/feeds/{token}/replies.atom")).status_code == 404
    finally:
        await member.client.aclose()
