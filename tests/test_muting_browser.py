"""Muting in a real browser: the Mute button on a member's page (htmx, and by keyboard), their
replies folded into one line that opens (also when they arrive live), unmuting from another tab
opening them again in the open page, and axe-core on what muting adds."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browsing import contexts, open_page_for_axe, post, register, slug, violations
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

__all__ = ["contexts", "slug"]  # fixtures, used by name

COLLAPSED = "Reply by a muted member — show"


def test_a_muted_members_replies_fold_and_open_and_unmuting_opens_them_live(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    muter, loud = register(server, "muter"), register(server, "loud")
    earlier = post(server, loud, slug, "An EARLIER loud reply")

    page = open_page_for_axe(contexts, browser, server, muter)
    page.goto(f"/u/{loud.username}")
    mute = page.get_by_role("button", name=f"Mute {loud.username}")
    expect(mute).to_have_attribute("aria-pressed", "false")
    # By keyboard: the button takes focus and Enter sends the form (htmx swaps it in place).
    mute.focus()
    with page.expect_response(lambda r: r.url.endswith(f"/u/{loud.username}/mute")) as sent:
        page.keyboard.press("Enter")
    assert sent.value.status == 200
    unmute = page.get_by_role("button", name=f"Unmute {loud.username}")
    expect(unmute).to_have_attribute("aria-pressed", "true")
    assert violations(page) == []

    thread = page.context.new_page()
    thread.goto(f"/a/{slug}")
    expect(thread.locator("#presence")).to_contain_text("reading now")
    folded = thread.locator(f"#reply-{earlier}-main details.muted-reply")
    expect(folded.locator("summary")).to_have_text(COLLAPSED)
    body = thread.locator(f"#reply-{earlier} .reply-body")
    expect(body).to_be_hidden()
    folded.locator("summary").click()
    expect(body).to_be_visible()
    expect(body).to_have_text("An EARLIER loud reply")

    # A reply arriving live comes folded too; it opens by keyboard.
    thread.evaluate("window.pageMarker = 'never reloaded'")
    live = post(server, loud, slug, "A LIVE loud reply")
    # Announced without the muted member's name.
    expect(thread.locator("#live-status")).to_have_text("New reply from a muted member.")
    thread.get_by_role("button", name="Show 1 new reply").click()
    live_folded = thread.locator(f"#reply-{live}-main details.muted-reply")
    expect(live_folded.locator("summary")).to_have_text(COLLAPSED)
    expect(thread.locator(f"#reply-{live} .reply-body")).to_be_hidden()
    live_folded.locator("summary").focus()
    thread.keyboard.press("Enter")
    expect(thread.locator(f"#reply-{live} .reply-body")).to_be_visible()
    assert violations(thread) == []

    # Unmuted in the other tab: the open thread shows their replies whole again, unreloaded.
    with page.expect_response(lambda r: r.url.endswith(f"/u/{loud.username}/unmute")):
        unmute.click()
    expect(page.get_by_role("button", name=f"Mute {loud.username}")).to_be_visible()
    expect(thread.locator("details.muted-reply")).to_have_count(0)
    expect(thread.locator(f"#reply-{earlier} .reply-body")).to_be_visible()
    expect(thread.locator(f"#reply-{live} .reply-body")).to_be_visible()
    # Muted again: folded again, in place.
    page.get_by_role("button", name=f"Mute {loud.username}").click()
    expect(thread.locator(f"#reply-{earlier}-main details.muted-reply")).to_have_count(1)
    expect(thread.locator(f"#reply-{live} .reply-body")).to_be_hidden()
    assert thread.evaluate("window.pageMarker") == "never reloaded"

    # The settings page lists them, with a way to unmute.
    page.goto("/settings")
    muted = page.get_by_role("region", name="Muted members")
    expect(muted.get_by_role("link", name=loud.username)).to_be_visible()
    assert violations(page) == []
    muted.get_by_role("button", name=f"Unmute {loud.username}").click()
    expect(page.get_by_role("status")).to_contain_text("Unmuted")
    expect(page.get_by_role("region", name="Muted members").get_by_role("listitem")).to_have_count(
        0
    )
