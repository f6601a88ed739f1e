"""No lost words, in a real browser: what a reader typed survives a closed edit window, a
session that ended in another tab and a detour through signing in or registering; a refusal
never swaps an error page into the thread."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browsing import contexts, open_page, post, register, sign_in_on_the_page
from tests.conftest import (
    PASSWORD,
    LiveServer,
    forum_command,
    import_article,
    start_server,
    stop_server,
    unique_name,
)

pytestmark = pytest.mark.browser

__all__ = ["contexts"]  # a fixture, used by name

#: The edit window of this module's own server: long enough to open a page and start editing.
EDIT_WINDOW_SECONDS = 6

#: The reply's Edit link ("Edit, 9 min left"), not an author link that starts with "edit".
EDIT_LINK = re.compile(r"^Edit\b")


@pytest.fixture(scope="module")
def short_window(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server on the tests' database whose edit window closes after a few seconds."""
    process, live = start_server(
        database_url,
        tmp_path_factory.mktemp("short-window"),
        EDIT_WINDOW_SECONDS=str(EDIT_WINDOW_SECONDS),
    )
    yield live
    stop_server(process)


@pytest.fixture(scope="module")
def slug(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An article of this module's own."""
    return import_article(server, tmp_path_factory.mktemp("articles"), "words")


def wait_until_window_closes(server: LiveServer, reply_id: int) -> None:
    """Sleep until the reply's edit window has closed on the server (no assertion on time)."""
    created = httpx.get(f"{server.url}/api/replies/{reply_id}").json()["created_at"]
    closes = datetime.fromisoformat(created).timestamp() + EDIT_WINDOW_SECONDS
    time.sleep(max(closes - time.time(), 0) + 0.5)


def test_an_edit_saved_after_the_window_keeps_the_text_beside_the_reason(
    browser: Browser, short_window: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author = register(short_window, "editor")
    reply_id = post(short_window, author, slug, "First words")
    page = open_page(contexts, browser, short_window, author)
    page.goto(f"/a/{slug}")
    edit = page.locator(f"#reply-{reply_id} > .reply-main").get_by_role("link", name=EDIT_LINK)
    expect(edit).to_contain_text("min left")
    edit.click()
    page.get_by_label("Edit your reply").fill("Rewritten with care")

    wait_until_window_closes(short_window, reply_id)
    page.get_by_role("button", name="Save").click()

    error = page.locator(f"#edit-form-{reply_id}").get_by_role("alert")
    expect(error).to_contain_text("can be edited for 1 minute after posting")
    expect(error).not_to_contain_text("minutes")
    expect(page.get_by_label("Edit your reply")).to_have_value("Rewritten with care")
    # No page in the page: one site header, no "Not allowed" heading in the thread.
    expect(page.locator("header.site-header")).to_have_count(1)
    expect(page.get_by_role("heading", name="Not allowed")).to_have_count(0)

    # Cancel shows the reply as it is, now without an Edit link.
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator(f"#reply-{reply_id} > .reply-main .reply-body")).to_have_text("First words")
    expect(
        page.locator(f"#reply-{reply_id} > .reply-main").get_by_role("link", name=EDIT_LINK)
    ).to_have_count(0)


def test_the_edit_link_counts_down_and_goes_when_the_window_closes(
    browser: Browser, short_window: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author = register(short_window, "counter")
    reply_id = post(short_window, author, slug, "Soon fixed for good")
    page = open_page(contexts, browser, short_window, author)
    page.goto(f"/a/{slug}")
    edit = page.locator(f"#reply-{reply_id} > .reply-main").get_by_role("link", name=EDIT_LINK)
    expect(edit).to_have_text("Edit (1 min left)")
    expect(page.get_by_role("link", name="Delete")).to_have_count(1)
    # The page stays open: the link goes by itself once the window has closed.
    expect(edit).to_have_count(0, timeout=EDIT_WINDOW_SECONDS * 1000 + 10_000)


def test_a_reply_written_after_signing_out_elsewhere_survives_signing_in(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    other = register(server, "other")
    parent_id = post(server, other, slug, "What do you think?")
    reader = register(server, "reader")
    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    page.locator(f"#reply-{parent_id} > .reply-main").get_by_role("link", name="Reply").click()
    page.get_by_label(f"Reply to {other.username}").fill("A long and careful answer")
    # Signed out in another tab.
    with reader.api(server) as client:
        assert client.delete("/api/session").status_code == 204

    page.locator(f"#reply-form-{parent_id}").get_by_role("button", name="Post reply").click()
    page.wait_for_url("**/login?next=*")
    sign_in_on_the_page(page, reader.username)

    page.wait_for_url(f"**/a/{slug}#reply-form-{parent_id}")
    answer = page.get_by_label(f"Reply to {other.username}")
    expect(answer).to_have_value("A long and careful answer")
    expect(answer).to_be_focused()
    page.locator(f"#reply-form-{parent_id}").get_by_role("button", name="Post reply").click()
    expect(
        page.locator(f"#children-{parent_id} .reply-body", has_text="A long and careful answer")
    ).to_be_visible()
    # Posted: the draft is gone, a reload shows an empty form.
    page.reload()
    page.locator(f"#reply-{parent_id} > .reply-main").get_by_role("link", name="Reply").click()
    expect(page.get_by_label(f"Reply to {other.username}")).to_have_value("")


def test_reply_then_register_comes_back_to_the_same_form(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    other = register(server, "asker")
    parent_id = post(server, other, slug, "Anyone from out of town?")
    page = open_page(contexts, browser, server, None)
    page.goto(f"/a/{slug}")
    page.locator(f"#reply-{parent_id} > .reply-main").get_by_role("link", name="Reply").click()
    page.wait_for_url("**/login?next=*")
    page.get_by_role("link", name="Register").last.click()
    username = unique_name("newcomer")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    page.wait_for_url(f"**/a/{slug}#reply-form-{parent_id}")
    expect(page.get_by_label(f"Reply to {other.username}")).to_be_focused()


def test_text_typed_before_signing_in_at_the_top_comes_back(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    reader = register(server, "late")
    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    page.get_by_label("Join the discussion").fill("My first thought")
    with reader.api(server) as client:
        assert client.delete("/api/session").status_code == 204
    page.locator("#reply-form-top").get_by_role("button", name="Post reply").click()
    page.wait_for_url("**/login?next=*")
    sign_in_on_the_page(page, reader.username)
    page.wait_for_url(f"**/a/{slug}#reply-form-top")
    expect(page.get_by_label("Join the discussion")).to_have_value("My first thought")


def test_a_thread_locked_while_writing_keeps_the_text_and_says_why_beside_it(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    moderator = register(server, "warden")
    forum_command(server, "promote", moderator.username, "--role", "moderator")
    reader = register(server, "ranter")
    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    expect(page.locator("#presence")).to_contain_text("reading now")
    page.get_by_label("Join the discussion").fill("One more thing, and then I stop")
    with moderator.api(server) as client:
        assert client.post(f"/api/articles/{slug}/lock").status_code == 200
    try:
        # The page is told live; the form and the text stay.
        expect(page.locator(".locked-notice")).to_be_visible()
        form = page.locator("#reply-form-top")
        form.get_by_role("button", name="Post reply").click()
        expect(form.get_by_role("alert")).to_have_text("This discussion is locked: no new replies.")
        expect(page.get_by_label("Join the discussion")).to_have_value(
            "One more thing, and then I stop"
        )
        expect(page.locator("header.site-header")).to_have_count(1)
    finally:
        with moderator.api(server) as client:
            assert client.post(f"/api/articles/{slug}/unlock").status_code == 200


def test_a_refused_link_says_why_in_the_page_alert(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author = register(server, "poster")
    reply_id = post(server, author, slug, "Borderline words")
    moderator = register(server, "former")
    forum_command(server, "promote", moderator.username, "--role", "moderator")
    page = open_page(contexts, browser, server, moderator)
    page.goto(f"/a/{slug}")
    hide = page.locator(f"#reply-{reply_id} > .reply-main").get_by_role("link", name="Hide")
    expect(hide).to_be_visible()
    forum_command(server, "promote", moderator.username, "--role", "reader")

    hide.click()
    alert = page.locator("#page-alert")
    expect(alert).to_contain_text("Only moderators may do that.")
    assert alert.get_attribute("role") == "alert"
    expect(page.locator("header.site-header")).to_have_count(1)
    expect(page.get_by_role("heading", name="Not allowed")).to_have_count(0)
    alert.get_by_role("button", name="Dismiss").click()
    expect(alert).to_be_empty()


def test_an_edit_saved_after_signing_out_elsewhere_survives_signing_in(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author = register(server, "reviser")
    reply_id = post(server, author, slug, "Draft one")
    page = open_page(contexts, browser, server, author)
    page.goto(f"/a/{slug}")
    page.locator(f"#reply-{reply_id} > .reply-main").get_by_role("link", name=EDIT_LINK).click()
    page.get_by_label("Edit your reply").fill("Draft two, much better")
    with author.api(server) as client:
        assert client.delete("/api/session").status_code == 204

    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/login?next=*")
    sign_in_on_the_page(page, author.username)

    page.wait_for_url(f"**/a/{slug}#edit-form-{reply_id}")
    expect(page.get_by_label("Edit your reply")).to_have_value("Draft two, much better")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(f"#reply-{reply_id} > .reply-main .reply-body")).to_have_text(
        "Draft two, much better"
    )


def test_posting_while_offline_says_so_and_keeps_the_text(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    reader = register(server, "offline")
    reply_id = post(server, reader, slug, "Mine, to keep")
    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    # Declining a confirmation is no failure: nothing is said.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator(f"#reply-{reply_id} > .reply-main").get_by_role("link", name="Delete").click()
    expect(page.locator(f"#reply-{reply_id} .reply-body")).to_have_text("Mine, to keep")
    expect(page.locator("#page-alert")).to_be_empty()

    page.get_by_label("Join the discussion").fill("Typed on a train")
    page.context.set_offline(True)
    form = page.locator("#reply-form-top")
    form.get_by_role("button", name="Post reply").click()
    expect(form.get_by_role("alert")).to_have_text(
        "The forum could not be reached. Nothing you wrote is lost: try again."
    )
    expect(page.get_by_label("Join the discussion")).to_have_value("Typed on a train")
    page.context.set_offline(False)
    form.get_by_role("button", name="Post reply").click()
    expect(page.locator("#replies .reply-body", has_text="Typed on a train")).to_be_visible()
    expect(form.get_by_role("alert")).to_have_count(0)
