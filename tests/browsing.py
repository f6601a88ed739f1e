"""What the browser tests share: members signed in through the API, pages in fresh contexts
(under the CSP, or with it bypassed so that axe-core can be injected), opening a thread,
posting and flagging through the API, and axe-core's violations."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from forum.accounts.identity import SESSION_COOKIE
from forum.settings import PROJECT_ROOT
from tests.conftest import PASSWORD, LiveServer, forum_command, import_article, unique_name

#: Where axe-core's script is: the project's node_modules (`npm ci`), or AXE_CORE_JS when the
#: checkout shares another's node_modules that lacks it.
AXE = Path(os.environ.get("AXE_CORE_JS") or PROJECT_ROOT / "node_modules/axe-core/axe.min.js")


@dataclass(frozen=True)
class Account:
    """A registered member, signed in through the API."""

    username: str
    session: str
    csrf: str

    def api(self, server: LiveServer) -> httpx.Client:
        """An API client with this member's session and CSRF header."""
        return httpx.Client(
            base_url=server.url,
            cookies={SESSION_COOKIE: self.session},
            headers={"X-CSRF-Token": self.csrf},
            timeout=10,
        )


def register(server: LiveServer, prefix: str) -> Account:
    """Register and sign in a member through the API."""
    username = unique_name(prefix)
    credentials = {"username": username, "password": PASSWORD}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/api/accounts", json=credentials).status_code == 201
        session = client.post("/api/session", json=credentials)
        assert session.status_code == 200, session.text
    return Account(username, session.cookies[SESSION_COOKIE], session.json()["csrf_token"])


def register_moderator(server: LiveServer, prefix: str) -> Account:
    """Register a member and promote them to moderator with the command line."""
    account = register(server, prefix)
    forum_command(server, "promote", account.username, "--role", "moderator")
    return account


@pytest.fixture(scope="module")
def moderator(server: LiveServer) -> Account:
    """A member promoted to moderator with the command line (one for each test module)."""
    return register_moderator(server, "mod")


@pytest.fixture(scope="module")
def slug(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An article of the test module's own, imported with the command line."""
    return import_article(server, tmp_path_factory.mktemp("articles"), "moderated")


@pytest.fixture
def contexts(browser: Browser, server: LiveServer) -> Iterator[list[BrowserContext]]:
    """Browser contexts (each with its own cookies) opened by the test, closed after it."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def _new_context(
    contexts: list[BrowserContext],
    browser: Browser,
    server: LiveServer,
    account: Account | None,
    *,
    bypass_csp: bool,
) -> BrowserContext:
    """A fresh context on the server, remembered for closing, with account's session cookie."""
    context = browser.new_context(base_url=server.url, bypass_csp=bypass_csp)
    context.set_default_timeout(10_000)
    contexts.append(context)
    if account is not None:
        context.add_cookies([{"name": SESSION_COOKIE, "value": account.session, "url": server.url}])
    return context


def open_page(
    contexts: list[BrowserContext], browser: Browser, server: LiveServer, account: Account | None
) -> Page:
    """A page in a fresh context, signed in as account (its session cookie)."""
    context = _new_context(contexts, browser, server, account, bypass_csp=False)
    # Remember how the live socket closed (htmx's ws extension reports it with its code).
    context.add_init_script(
        "document.addEventListener('htmx:ws:close', (e) => { window.liveClosed = e.detail.code })"
    )
    return context.new_page()


def open_page_for_axe(
    contexts: list[BrowserContext], browser: Browser, server: LiveServer, account: Account | None
) -> Page:
    """A page signed in as account; the CSP is bypassed only so that axe can be injected."""
    return _new_context(contexts, browser, server, account, bypass_csp=True).new_page()


def violations(page: Page, *, inject: bool = True) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (inject: add axe first,
    which a page needs once after each load)."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` (it is a dev dependency)")
    if inject:
        page.add_script_tag(path=str(AXE))
    # Only violations are read: collecting every passing node too takes axe three times as long.
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{item['id']} ({item['impact']}): {item['help']} at "
        + json.dumps([node["target"] for node in item["nodes"]][:5])
        for item in found
    ]


def open_thread(page: Page, slug: str) -> None:
    """Open the article and wait until its live socket is subscribed (presence arrives)."""
    page.goto(f"/a/{slug}")
    expect(page.locator("#presence")).to_contain_text("reading now")


def post(
    server: LiveServer, account: Account, slug: str, body: str, parent_id: int | None = None
) -> int:
    """Post a reply through the API (top-level unless parent_id is given); its id."""
    payload: dict[str, object] = {"body": body}
    if parent_id is not None:
        payload["parent_id"] = parent_id
    with account.api(server) as client:
        response = client.post(f"/api/articles/{slug}/replies", json=payload)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def flag(server: LiveServer, flagger: Account, reply_id: int) -> None:
    """Flag a reply as spam through the API."""
    with flagger.api(server) as client:
        response = client.post(f"/api/replies/{reply_id}/flags", json={"reason": "spam"})
    assert response.status_code == 201, response.text


def sign_in_on_the_page(page: Page, username: str) -> None:
    """Fill the sign-in form the reader was sent to."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
