"""The composer and reading tools in a real browser: the preview shows the Markdown as the
forum renders it (and passes axe-core), a draft survives a reload, a new tab and a sign-in and
goes once posted, and a collapsed subthread stays collapsed across a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browsing import (
    contexts,
    open_page,
    open_page_for_axe,
    post,
    register,
    sign_in_on_the_page,
    violations,
)
from tests.conftest import LiveServer, import_article

pytestmark = pytest.mark.browser

__all__ = ["contexts"]  # a fixture, used by name

MARKDOWN = (
    "Some **bold** words, see https://example.org\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n`code`"
)


@pytest.fixture(scope="module")
def slug(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An article of this module's own."""
    return import_article(server, tmp_path_factory.mktemp("articles"), "composer")


def test_the_preview_shows_the_rendered_markdown_and_passes_axe(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    writer = register(server, "writer")
    page = open_page_for_axe(contexts, browser, server, writer)
    page.goto(f"/a/{slug}")
    form = page.locator("#reply-form-top")
    form.get_by_label("Join the discussion").fill(MARKDOWN)
    form.get_by_role("button", name="Preview").click()
    preview = page.locator("#reply-form-top-preview")
    expect(preview.locator("strong")).to_have_text("bold")
    expect(preview.get_by_role("link", name="https://example.org")).to_have_attribute(
        "rel", "nofollow ugc noopener noreferrer"
    )
    expect(preview.locator("table td").first).to_have_text("1")
    expect(preview.locator("code")).to_have_text("code")
    # Nothing was posted.
    expect(page.locator("#replies .reply")).to_have_count(0)

    form.get_by_text("Formatting help").click()
    expect(form.locator("details.format-help table")).to_be_visible()
    assert violations(page) == []

    # An empty text says why, beside the form.
    form.get_by_label("Join the discussion").fill("")
    form.get_by_role("button", name="Preview").click()
    expect(preview.get_by_role("alert")).to_contain_text("Reply")


def draft_keys(page: Page) -> list[str]:
    return page.evaluate("Object.keys(localStorage).filter((key) => key.startsWith('draft:'))")


def test_a_draft_survives_a_reload_and_a_new_tab_and_goes_once_posted(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    asker, reader = register(server, "asker"), register(server, "drafter")
    first = post(server, asker, slug, "First question")
    second = post(server, asker, slug, "Second question")
    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    page.locator(f"#reply-{first} > .reply-main").get_by_role("link", name="Reply").click()
    page.locator(f"#reply-form-{first} textarea").fill("Half an answer to the first")

    page.reload()
    # Restored into the form of the reply it answers, not another one.
    page.locator(f"#reply-{second} > .reply-main").get_by_role("link", name="Reply").click()
    expect(page.locator(f"#reply-form-{second} textarea")).to_have_value("")
    page.locator(f"#reply-{first} > .reply-main").get_by_role("link", name="Reply").click()
    textarea = page.locator(f"#reply-form-{first} textarea")
    expect(textarea).to_have_value("Half an answer to the first")

    # A tab of its own (the same browser profile) finds it too.
    other_tab = page.context.new_page()
    other_tab.goto(f"/a/{slug}")
    other_tab.locator(f"#reply-{first} > .reply-main").get_by_role("link", name="Reply").click()
    expect(other_tab.locator(f"#reply-form-{first} textarea")).to_have_value(
        "Half an answer to the first"
    )
    other_tab.close()

    textarea.fill("A whole answer to the first")
    page.locator(f"#reply-form-{first}").get_by_role("button", name="Post reply").click()
    expect(
        page.locator(f"#children-{first} .reply-body", has_text="A whole answer to the first")
    ).to_be_visible()
    assert draft_keys(page) == []
    page.reload()
    page.locator(f"#reply-{first} > .reply-main").get_by_role("link", name="Reply").click()
    expect(page.locator(f"#reply-form-{first} textarea")).to_have_value("")


def test_a_draft_survives_signing_in_and_is_cleared_on_post(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    reader = register(server, "roundtrip")
    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    page.get_by_label("Join the discussion").fill("Typed before my session ended")
    with reader.api(server) as client:
        assert client.delete("/api/session").status_code == 204
    page.reload()  # signed out now: the page offers to sign in instead of the form
    expect(page.get_by_label("Join the discussion")).to_have_count(0)
    page.locator(".sign-in-prompt").get_by_role("link", name="Sign in").click()
    page.wait_for_url("**/login?next=**")
    sign_in_on_the_page(page, reader.username)
    page.wait_for_url(f"**/a/{slug}#reply-form-top")
    box = page.get_by_label("Join the discussion")
    expect(box).to_have_value("Typed before my session ended")

    page.locator("#reply-form-top").get_by_role("button", name="Post reply").click()
    expect(page.locator(".reply-body", has_text="Typed before my session ended")).to_be_visible()
    assert draft_keys(page) == []
    page.reload()
    expect(page.get_by_label("Join the discussion")).to_have_value("")


def test_a_collapsed_subthread_stays_collapsed_across_a_reload(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    asker, reader = register(server, "parent"), register(server, "collapser")
    top = post(server, asker, slug, "A question with answers")
    child = post(server, reader, slug, "An answer", parent_id=top)
    post(server, asker, slug, "An answer to the answer", parent_id=child)
    page = open_page(contexts, browser, server, reader)
    page.goto(f"/a/{slug}")
    toggle = page.locator(f"#reply-{top} > .reply-main").get_by_role("button", name="Hide replies")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(page.locator(f"#reply-{child}")).to_be_hidden()
    shown_again = page.locator(f"#reply-{top} > .reply-main").get_by_role(
        "button", name="Show 2 replies"
    )
    expect(shown_again).to_have_attribute("aria-expanded", "false")

    page.reload()
    expect(page.locator(f"#reply-{top} > .reply-main .collapse-toggle")).to_have_text(
        "Show 2 replies"
    )
    expect(page.locator(f"#reply-{child}")).to_be_hidden()
    expect(page.locator(f"#reply-{top} > .reply-main .reply-body")).to_be_visible()

    page.locator(f"#reply-{top} > .reply-main .collapse-toggle").click()
    expect(page.locator(f"#reply-{child}")).to_be_visible()
    page.reload()
    expect(page.locator(f"#reply-{child}")).to_be_visible()
    expect(page.locator(f"#reply-{top} > .reply-main .collapse-toggle")).to_have_text(
        "Hide replies"
    )
