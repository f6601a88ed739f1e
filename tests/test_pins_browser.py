"""Pins in a real browser: a moderator pins a reply with a click and it moves to the top of
another reader's open page live, marked "Pinned" (axe-clean); unpinned, it leaves the pinned
ones."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browsing import (
    Account,
    contexts,
    moderator,
    open_page,
    open_page_for_axe,
    open_thread,
    post,
    register,
    violations,
)
from tests.conftest import LiveServer, import_article

pytestmark = pytest.mark.browser

__all__ = ["contexts", "moderator"]  # fixtures, used by name


def test_a_pin_moves_the_reply_to_the_top_of_open_pages(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    slug = import_article(server, tmp_path_factory.mktemp("articles"), "pinned")
    author, reader = register(server, "author"), register(server, "reader")
    older = post(server, author, slug, "The answer everyone needs")
    newer = post(server, author, slug, "Small talk")
    reader_page = open_page_for_axe(contexts, browser, server, reader)
    open_thread(reader_page, slug)
    reader_page.evaluate("window.pageMarker = 'never reloaded'")
    # Newest first: the older reply is second.
    expect(reader_page.locator("#replies > .reply").first).to_have_id(f"reply-{newer}")
    expect(reader_page.locator(f"#reply-{older} .reply-actions").get_by_text("Pin")).to_be_hidden()

    page = open_page(contexts, browser, server, moderator)
    open_thread(page, slug)
    actions = page.locator(f"#reply-{older} > .reply-main .reply-actions")
    with page.expect_response(lambda r: r.url.endswith(f"/r/{older}/pin")) as pinned:
        actions.get_by_role("link", name="Pin to the top").click()
    assert pinned.value.status == 200
    expect(page.locator(f"#pinned-replies > #reply-{older} .pinned-mark")).to_have_text("Pinned")

    reader_pinned = reader_page.locator(f"#pinned-replies > #reply-{older}")
    expect(reader_pinned).to_be_visible()
    expect(reader_pinned.locator(".pinned-mark")).to_have_text("Pinned")
    expect(reader_page.get_by_text("The answer everyone needs")).to_have_count(1)
    # Above every other reply on the page.
    box_pinned, box_newer = (
        reader_page.locator(f"#reply-{older}").bounding_box(),
        reader_page.locator(f"#reply-{newer}").bounding_box(),
    )
    assert box_pinned is not None and box_newer is not None
    assert box_pinned["y"] < box_newer["y"]
    assert reader_page.evaluate("window.pageMarker") == "never reloaded"
    assert violations(reader_page) == []

    # Unpinned: it leaves the pinned ones (back with the new replies, behind the button).
    unpin = page.locator(f"#reply-{older} > .reply-main .reply-actions")
    unpin.get_by_role("link", name="Unpin").click()
    expect(reader_page.locator("#pinned-replies > .reply")).to_have_count(0)
    reader_page.get_by_role("button", name="Show 1 new reply").click()
    expect(reader_page.locator(f"#replies > #reply-{older}")).to_be_visible()
    expect(reader_page.locator(f"#reply-{older} .pinned-mark")).to_have_count(0)
