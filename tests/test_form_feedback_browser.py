"""Nothing fails silently, in a real browser: refusals show beside the form that was sent, forms
opened in place close on success, with Cancel and with Escape, Ctrl+Enter sends them, focus
lands on what the reader acted on, and new replies are noticed wherever the reader is."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browsing import (
    Account,
    contexts,
    moderator,
    open_page,
    open_thread,
    post,
    register,
)
from tests.conftest import LiveServer, import_article

pytestmark = pytest.mark.browser

__all__ = ["contexts", "moderator"]  # fixtures, used by name


@pytest.fixture
def slug(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An article of the test's own, with an empty discussion."""
    return import_article(server, tmp_path_factory.mktemp("articles"), "feedback")


def reply_main(page: Page, reply_id: int) -> object:
    """The reply's own block (not its children)."""
    return page.locator(f"#reply-{reply_id} > .reply-main")


def test_hiding_with_other_and_no_note_says_so_then_the_form_closes(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    slug: str,
) -> None:
    author = register(server, "noisy")
    reply_id = post(server, author, slug, "Off topic, somewhat")
    page = open_page(contexts, browser, server, moderator)
    open_thread(page, slug)
    page.locator(f"#reply-{reply_id} > .reply-main").get_by_role("link", name="Hide").click()
    form = page.locator(f"#hide-form-{reply_id}")
    form.get_by_role("radio", name="other").check()
    form.get_by_role("button", name="Hide").click()

    note = form.get_by_label("Note (required for “other”)")
    expect(form.get_by_role("alert")).to_have_text("Say what the reason is.")
    expect(note).to_have_accessible_description("Say what the reason is.")
    expect(form.get_by_role("radio", name="other")).to_be_checked()

    note.fill("Belongs in another thread")
    form.get_by_role("button", name="Hide").click()
    main = page.locator(f"#reply-{reply_id}-main")
    expect(main.locator(".hidden-marker")).to_contain_text("Belongs in another thread")
    expect(page.locator(f"#hide-form-{reply_id}")).to_have_count(0)
    expect(main).to_be_focused()


def test_forms_opened_in_place_cancel_escape_and_ctrl_enter(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    other = register(server, "opener")
    parent_id = post(server, other, slug, "Start here")
    reader = register(server, "keyboard")
    page = open_page(contexts, browser, server, reader)
    open_thread(page, slug)
    actions = page.locator(f"#reply-{parent_id} > .reply-main .reply-actions")
    answer = page.get_by_label(f"Reply to {other.username}")

    actions.get_by_role("link", name="Reply").click()
    expect(answer).to_be_focused()
    page.locator(f"#reply-form-{parent_id}").get_by_role("link", name="Cancel").click()
    expect(answer).to_have_count(0)
    expect(actions.get_by_role("link", name="Reply")).to_be_focused()

    actions.get_by_role("link", name="Reply").click()
    answer.fill("Never mind")
    answer.press("Escape")
    expect(answer).to_have_count(0)
    expect(actions.get_by_role("link", name="Reply")).to_be_focused()

    actions.get_by_role("link", name="Flag").click()
    flag_form = page.locator(f"#flag-form-{parent_id}")
    flag_form.get_by_label("spam").press("Escape")
    expect(flag_form).to_have_count(0)
    expect(actions.get_by_role("link", name="Flag")).to_be_focused()

    actions.get_by_role("link", name="Reply").click()
    answer.fill("Sent from the keyboard")
    answer.press("Control+Enter")
    posted = page.locator(f"#children-{parent_id} > .reply").filter(
        has_text="Sent from the keyboard"
    )
    expect(posted).to_be_visible()
    expect(posted).to_be_focused()


def test_focus_lands_on_new_content_after_posting_and_loading_more(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    writer = register(server, "writer")
    ids = [post(server, writer, slug, f"Earlier reply {number}") for number in range(21)]
    page = open_page(contexts, browser, server, writer)
    open_thread(page, slug)
    page.get_by_role("link", name="Load more replies").click()
    # Newest first: the 21st newest, the oldest, is the one loaded.
    expect(page.locator(f"#reply-{ids[0]}")).to_be_focused()

    page.get_by_label("Join the discussion").fill("A new top-level thought")
    page.locator("#reply-form-top").get_by_role("button", name="Post reply").click()
    posted = page.locator("#replies > .reply").filter(has_text="A new top-level thought")
    expect(posted).to_be_focused()
    expect(page.get_by_label("Join the discussion")).to_have_value("")


def test_dismissing_a_flag_moves_focus_to_the_next_one(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    slug: str,
) -> None:
    author, flagger = register(server, "flagged"), register(server, "flagger")
    first = post(server, author, slug, "First flagged")
    second = post(server, author, slug, "Second flagged")
    with flagger.api(server) as client:
        for reply_id in (second, second, first):
            client.post(f"/api/replies/{reply_id}/flags", json={"reason": "spam"})
    page = open_page(contexts, browser, server, moderator)
    page.goto("/mod/flags")
    item = page.locator(f"#flag-item-{first}")
    following = page.locator(f"#flag-item-{first} + li")
    next_id = following.get_attribute("id")
    item.get_by_role("button", name="Dismiss").click()
    expect(item).to_have_count(0)
    expect(page.locator(f"#{next_id}")).to_be_focused()


def set_tab_hidden(page: Page, hidden: bool) -> None:
    """Make the page believe its tab was hidden or shown again (as switching tabs does)."""
    page.evaluate(
        """(hidden) => {
          const state = hidden ? "hidden" : "visible";
          Object.defineProperty(document, "hidden", {get: () => hidden, configurable: true});
          const visibility = {get: () => state, configurable: true};
          Object.defineProperty(document, "visibilityState", visibility);
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_new_replies_are_noticed_wherever_the_reader_is(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    writer = register(server, "news")
    page = open_page(contexts, browser, server, None)
    page.set_viewport_size({"width": 390, "height": 844})
    open_thread(page, slug)
    expect(page.get_by_text("No replies yet")).to_be_visible()
    page.locator(".site-footer").scroll_into_view_if_needed()

    post(server, writer, slug, "The first word")
    button = page.get_by_role("button", name="Show 1 new reply")
    expect(button).to_be_in_viewport()
    expect(page.get_by_text("No replies yet")).to_have_count(0)

    # The tab is hidden: its title counts what arrives.
    title = page.title()
    set_tab_hidden(page, True)
    post(server, writer, slug, "And another")
    post(server, writer, slug, "And a third")
    expect(page).to_have_title(re.compile(r"^\(2\) "))
    set_tab_hidden(page, False)
    expect(page).to_have_title(title)

    button = page.get_by_role("button", name="Show 3 new replies")
    button.focus()
    page.keyboard.press("Enter")
    newest = page.locator("#replies > .reply").first
    expect(newest).to_contain_text("And a third")
    expect(newest).to_be_focused()


def test_a_refused_suspension_keeps_the_choices_made(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
) -> None:
    member = register(server, "suspect")
    page = open_page(contexts, browser, server, moderator)
    page.goto(f"/u/{member.username}")
    page.get_by_label("Reason (shown to them)").fill("   ")
    page.get_by_label("For").select_option(label="30 days")
    page.get_by_label("Also hide all their replies").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Suspend").click()

    expect(page.get_by_role("alert").filter(has_text="Reason")).to_be_visible()
    expect(page.get_by_label("For")).to_have_value("30")
    expect(page.get_by_label("Also hide all their replies")).to_be_checked()
