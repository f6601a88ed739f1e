"""The bell in a real browser: its count rises live while the reader's article page is open and
someone answers them, and falls when they read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import PASSWORD, LiveServer, import_article, unique_name

pytestmark = pytest.mark.browser

#: Generous, only so that a broken page fails a test instead of hanging it (never a speed check).
WAIT = 15_000


@pytest.fixture
def article(server: LiveServer, tmp_path: Path) -> str:
    """A fresh article, added by the import command (nobody else reads it); its slug."""
    return import_article(server, tmp_path, "bell")


@pytest.fixture
def answerer(server: LiveServer) -> Iterator[tuple[httpx.Client, str]]:
    """Someone else, signed in through the API: their client and CSRF token."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        account = {"username": unique_name("answerer"), "password": PASSWORD}
        assert client.post("/api/accounts", json=account).status_code == 201
        session = client.post("/api/session", json=account)
        assert session.status_code == 200
        yield client, session.json()["csrf_token"]


def test_the_bell_rises_live_when_someone_answers_and_falls_when_read(
    browser: Browser, server: LiveServer, article: str, answerer: tuple[httpx.Client, str]
) -> None:
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(WAIT)
    try:
        # context.request shares the context's cookies: the reader's session lands in the page.
        account = {"username": unique_name("reader"), "password": PASSWORD}
        assert context.request.post("/api/accounts", data=account).status == 201
        session = context.request.post("/api/session", data=account)
        assert session.ok
        reader_csrf = {"X-CSRF-Token": session.json()["csrf_token"]}
        mine = context.request.post(
            f"/api/articles/{article}/replies", data={"body": "Anyone?"}, headers=reader_csrf
        )
        assert mine.status == 201

        page = context.new_page()
        page.goto(f"/a/{article}")
        page.evaluate("window.pageMarker = 'never reloaded'")
        bell = page.locator("#bell-count")
        expect(bell).to_be_hidden()
        expect(bell).to_have_attribute("data-count", "0")
        # Once presence counts the page, its socket listens to the reader's channel too.
        expect(page.locator("#presence")).to_have_text("1 reading now")

        client, csrf = answerer
        for n in (1, 2):
            answer = {"body": f"Answer {n}.", "parent_id": mine.json()["id"]}
            posted = client.post(
                f"/api/articles/{article}/replies", json=answer, headers={"X-CSRF-Token": csrf}
            )
            assert posted.status_code == 201, posted.text
            expect(bell).to_be_visible()
            expect(bell).to_have_text(str(n))

        read = context.request.post("/api/notifications/read", headers=reader_csrf)
        assert read.ok
        expect(bell).to_be_hidden()
        expect(bell).to_have_attribute("data-count", "0")
        assert page.evaluate("window.pageMarker") == "never reloaded"
    finally:
        context.close()


def test_the_bell_says_how_many_and_opening_a_notification_reads_it(
    browser: Browser, server: LiveServer, article: str, answerer: tuple[httpx.Client, str]
) -> None:
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(WAIT)
    try:
        account = {"username": unique_name("reader"), "password": PASSWORD}
        assert context.request.post("/api/accounts", data=account).status == 201
        session = context.request.post("/api/session", data=account)
        reader_csrf = {"X-CSRF-Token": session.json()["csrf_token"]}
        mine = context.request.post(
            f"/api/articles/{article}/replies", data={"body": "Anyone?"}, headers=reader_csrf
        )
        client, csrf = answerer
        for text in ("Me, at noon.", "Me too, after lunch."):
            answer = {"body": text, "parent_id": mine.json()["id"]}
            posted = client.post(
                f"/api/articles/{article}/replies", json=answer, headers={"X-CSRF-Token": csrf}
            )
            assert posted.status_code == 201, posted.text

        thread = context.new_page()
        thread.goto(f"/a/{article}")
        expect(thread.get_by_role("link", name="Notifications, 2 unread")).to_be_visible()
        expect(thread.locator("#presence")).to_have_text("1 reading now")

        bell_page = context.new_page()
        bell_page.goto("/notifications")
        items = bell_page.locator("li.notification")
        expect(items.first).to_contain_text("Me too, after lunch.")
        expect(items.last).to_contain_text("Me, at noon.")
        items.last.get_by_role("link", name="replied").click()
        bell_page.wait_for_url(f"**/a/{article}/r/*")
        expect(bell_page.get_by_role("link", name="Notifications, 1 unread")).to_be_visible()
        # The other open page's bell follows live.
        expect(thread.get_by_role("link", name="Notifications, 1 unread")).to_be_visible()

        bell_page.goto("/notifications")
        bell_page.get_by_role("button", name="Mark all read (1)").click()
        expect(thread.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    finally:
        context.close()
