"""Edit history in a real browser: "edited" on a reply opens its earlier versions in place
(htmx, no reload), and what it opens passes axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browsing import contexts, open_page_for_axe, post, register, violations
from tests.conftest import LiveServer, import_article

pytestmark = pytest.mark.browser

__all__ = ["contexts"]  # fixtures, used by name


def test_edited_opens_the_earlier_version(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    slug = import_article(server, tmp_path_factory.mktemp("articles"), "edited")
    author, reader = register(server, "author"), register(server, "reader")
    reply_id = post(server, author, slug, "The first thing I said")
    with author.api(server) as client:
        edited = client.patch(f"/api/replies/{reply_id}", json={"body": "What I meant to say"})
        assert edited.status_code == 200, edited.text

    page = open_page_for_axe(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    page.evaluate("window.pageMarker = 'never reloaded'")
    reply = page.locator(f"#reply-{reply_id}")
    expect(reply.locator(".reply-body").first).to_have_text("What I meant to say")
    expect(page.get_by_text("The first thing I said")).to_have_count(0)

    reply.get_by_role("link", name="edited").click()
    versions = page.locator(f"#reply-slot-{reply_id} .revision")
    expect(versions).to_have_count(2)
    expect(versions.nth(1)).to_contain_text("Version 1")
    expect(versions.nth(1).locator(".reply-body")).to_have_text("The first thing I said")
    expect(versions.nth(0)).to_contain_text("(now)")
    assert page.evaluate("window.pageMarker") == "never reloaded"
    assert violations(page) == []
