"""Every page of the site, for the sweeps that check them all (the HTML checker, axe-core).

The pages come from the app's own route table, not a hand-kept list: each GET route, its path
parameters filled from a seeded scene (a thread with an answered reply, Markdown headings and a
long code block in it, a hidden reply, an open flag, notifications, a suspended member), asked
by a visitor, a member and a moderator. Whatever answers HTML is a page to check, error pages
included; a new route is in the sweep the day it is added.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.routing import BaseRoute, Route
from tortoise.context import TortoiseContext

from forum.app import create_app
from forum.db import tortoise_config
from forum.notifications.tokens import stop_mail_token, unsubscribe_token
from forum.settings import Settings
from models import Article, User
from tests.browsing import Account, post, register
from tests.conftest import LiveServer, forum_command, import_article

ROUTES: list[BaseRoute] = list(create_app(Settings(secret_key="test")).routes)
#: Who looks at the pages.
VIEWERS = ("visitor", "member", "moderator")

#: A reply with what once broke the pages: headings of every level, a code block that scrolls.
MARKDOWN_REPLY = (
    "# A heading in a reply\n\n## And a smaller one\n\n###### The smallest\n\n"
    "Some *emphasis*, a [link](https://example.org) and `code`.\n\n"
    "```\n" + "a_very_long_line_of_code = " + "x" * 300 + "\n```\n"
)


@dataclass
class Site:
    """The seeded scene, who looks at it, and the values to fill path parameters with."""

    server: LiveServer
    slug: str
    accounts: dict[str, Account | None]
    values: dict[str, list[str]] = field(default_factory=dict)

    def paths(self, route: Route) -> list[str]:
        """The route's path once for each combination of seeded values of its parameters."""
        names = re.findall(r"\{(\w+)(?::\w+)?\}", route.path)
        choices = [self.values.get(name, ["not-a-value"]) for name in names]
        paths = []
        for combination in itertools.product(*choices):
            filled = dict(zip(names, combination, strict=True))
            paths.append(
                re.sub(r"\{(\w+)(?::\w+)?\}", lambda m, f=filled: f[m.group(1)], route.path)
            )
        return paths


def get_routes() -> list[Route]:
    """Every route of the table that answers GET (mounts of static files aside)."""
    return [
        route for route in ROUTES if isinstance(route, Route) and "GET" in (route.methods or ())
    ]


def ids_of(server: LiveServer, username: str, slug: str) -> tuple[int, int]:
    """A user's and an article's ids, from the server's database (in a thread of its own:
    Playwright may be holding this thread's event loop)."""

    async def load() -> tuple[int, int]:
        async with TortoiseContext() as context:
            await context.init(config=tortoise_config(server.env["DATABASE_URL"]))
            user = await User.get(username=username)
            article = await Article.get(slug=slug)
        return user.id, article.id

    result: list[tuple[int, int]] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(load())))
    thread.start()
    thread.join()
    return result[0]


def seed_site(server: LiveServer, folder: Path) -> Site:
    """A thread with all there is to see in it, and the accounts that look at it."""
    slug = import_article(server, folder, "pages")
    member, moderator = register(server, "reader"), register(server, "mod")
    answerer, suspended = register(server, "answerer"), register(server, "suspended")
    forum_command(server, "promote", moderator.username, "--role", "moderator")
    with member.api(server) as client:
        assert client.post(f"/api/articles/{slug}/subscription").status_code == 200
    top = post(server, member, slug, MARKDOWN_REPLY)
    hidden = post(server, answerer, slug, "A reply a moderator hides.")
    flagged = post(server, answerer, slug, "A reply someone flags.")
    with answerer.api(server) as client:
        answer = client.post(
            f"/api/articles/{slug}/replies", json={"body": "An answer to you.", "parent_id": top}
        )
        assert answer.status_code == 201, answer.text
        client.post(
            f"/api/articles/{slug}/replies", json={"body": "Under the hidden.", "parent_id": hidden}
        )
    with member.api(server) as client:
        assert client.post(
            f"/api/replies/{flagged}/flags", json={"reason": "spam"}
        ).status_code in (200, 201)
        notifications = client.get("/api/notifications").json()["items"]
    with moderator.api(server) as client:
        hid = client.post(f"/api/replies/{hidden}/hide", json={"reason": "abuse", "note": "Rude."})
        assert hid.status_code == 200, hid.text
        suspension = client.post(
            f"/api/users/{suspended.username}/suspend", json={"reason": "Testing"}
        )
        assert suspension.status_code == 200, suspension.text
    user_id, article_id = ids_of(server, member.username, slug)
    secret = server.env["SECRET_KEY"]
    site = Site(server, slug, {"visitor": None, "member": member, "moderator": moderator})
    site.values = {
        "slug": [slug],
        "reply_id": [str(top), str(hidden)],
        "username": [member.username, suspended.username],
        "notification_id": [str(item["id"]) for item in notifications[:1]],
        "token": [
            unsubscribe_token(secret, user_id, article_id),
            stop_mail_token(secret, user_id),
        ],
    }
    return site


def client_for(site: Site, viewer: str) -> httpx.Client:
    """An HTTP client that is the viewer (a visitor has no session)."""
    account = site.accounts[viewer]
    if account is None:
        return httpx.Client(base_url=site.server.url, timeout=10, follow_redirects=True)
    client = account.api(site.server)
    client.follow_redirects = True
    return client


def is_document(html: str) -> bool:
    """Whether the HTML is a whole page (not a fragment for htmx to swap in)."""
    return html.lstrip()[:15].lower() == "<!doctype html>"


def html_pages(site: Site, *, htmx: bool = False) -> dict[tuple[str, str], str]:
    """Every page each viewer is shown, by (viewer, path where it landed): its HTML; with htmx,
    also what each route answers htmx (fragments, under "path (htmx)").

    Paths that land on the same page (all the routes that send a visitor to sign in) count once.
    """
    pages: dict[tuple[str, str], str] = {}
    for viewer in VIEWERS:
        with client_for(site, viewer) as client:
            for route in get_routes():
                for path in site.paths(route):
                    for asked in ("", " (htmx)") if htmx else ("",):
                        headers = {"HX-Request": "true"} if asked else {}
                        response = client.get(path, headers=headers)
                        if not response.headers.get("content-type", "").startswith("text/html"):
                            continue
                        landed = urlsplit(str(response.url)).path
                        pages.setdefault((viewer, landed + asked), response.text)
    return pages


def describe(pages: dict[tuple[str, str], Any]) -> str:
    """The pages' keys, one a line (for a failure message)."""
    return "\n".join(f"{viewer} {path}" for viewer, path in sorted(pages))
