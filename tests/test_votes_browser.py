"""Votes in a real browser: a click on the up-vote button counts (htmx, no reload) and the new
score reaches another reader's open page live."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browsing import contexts, open_page, open_thread, post, register, slug
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

__all__ = ["contexts", "slug"]  # fixtures, used by name


def test_a_click_on_the_vote_button_counts_and_reaches_other_pages(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author, voter, reader = (register(server, name) for name in ("author", "voter", "reader"))
    reply_id = post(server, author, slug, "Vote for me")
    reader_page = open_page(contexts, browser, server, reader)
    open_thread(reader_page, slug)
    reader_page.evaluate("window.pageMarker = 'never reloaded'")
    reader_score = reader_page.locator(f"#score-{reply_id}")
    expect(reader_score).to_have_text("0")

    page = open_page(contexts, browser, server, voter)
    open_thread(page, slug)
    widget = page.locator(f"#vote-{reply_id}")
    with page.expect_response(lambda r: r.url.endswith(f"/r/{reply_id}/vote")) as voted:
        widget.get_by_role("button", name="Up-vote").click()
    assert voted.value.status == 200
    expect(page.locator(f"#score-{reply_id}")).to_have_text("1")
    expect(widget.get_by_role("button", name="Take back your up-vote")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(reader_score).to_have_text("1")
    assert reader_page.evaluate("window.pageMarker") == "never reloaded"

    # And back: the second click takes the vote back.
    widget.get_by_role("button", name="Take back your up-vote").click()
    expect(page.locator(f"#score-{reply_id}")).to_have_text("0")
    expect(reader_score).to_have_text("0")
