"""Profiles in a real browser: from an author's name in the thread to their page, their avatar
drawn under the page's security policy, and older replies loaded in place (htmx) or as a page
of their own (without JavaScript)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from forum.accounts.identity import SESSION_COOKIE
from tests.browsing import contexts, open_page, post, register, slug
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

__all__ = ["contexts", "slug"]  # fixtures, used by name

#: The server runs with the default page size.
PAGE = 20


def test_an_authors_name_leads_to_their_page_where_older_replies_load_in_place(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author, reader = register(server, "author"), register(server, "reader")
    ids = [post(server, author, slug, f"Thought number {number}") for number in range(PAGE + 3)]

    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}/r/{ids[0]}")
    byline = page.locator(f"#reply-{ids[0]}-main .byline")
    byline.get_by_role("link", name=author.username).click()
    page.wait_for_url(f"**/u/{author.username}")
    expect(page.get_by_role("heading", level=1)).to_have_text(author.username)
    expect(page.locator("#reply-count")).to_have_text(f"{PAGE + 3} replies")
    # The avatar is drawn (an SVG the page's policy allows), beside the heading.
    avatar = page.locator(".profile-head img.avatar")
    expect(avatar).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('.profile-head img.avatar').naturalWidth > 0"
    )

    items = page.locator(".profile-reply")
    expect(items).to_have_count(PAGE)
    expect(items.first).to_contain_text(f"Thought number {PAGE + 2}")
    page.evaluate("window.pageMarker = 'never reloaded'")
    page.get_by_role("link", name="Older replies").click()
    expect(items).to_have_count(PAGE + 3)
    expect(items.last).to_contain_text("Thought number 0")
    expect(page.get_by_role("link", name="Older replies")).to_have_count(0)
    # Focus moves to the first reply loaded, not back to the top of the page.
    expect(page.locator(f"#profile-reply-{ids[2]}")).to_be_focused()
    assert page.evaluate("window.pageMarker") == "never reloaded"

    # Each reply's permalink opens it in its thread.
    items.last.locator("a.when").click()
    page.wait_for_url(re.compile(rf"/a/{slug}/r/{ids[0]}"))
    expect(page.locator(f"#reply-{ids[0]}")).to_be_visible()


def test_without_javascript_older_replies_are_a_page_of_their_own(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author = register(server, "author")
    ids = [post(server, author, slug, f"Plain {number}") for number in range(PAGE + 2)]
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    contexts.append(context)
    context.add_cookies([{"name": SESSION_COOKIE, "value": author.session, "url": server.url}])
    page = context.new_page()
    page.goto(f"/u/{author.username}")
    page.get_by_role("link", name="Older replies").click()
    page.wait_for_url(f"**/u/{author.username}?before={ids[2]}*")
    items = page.locator(".profile-reply")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Plain 1")
    page.get_by_role("link", name="Newest replies").click()
    expect(items.first).to_contain_text(f"Plain {PAGE + 1}")
