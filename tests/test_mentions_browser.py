"""@name suggestions in a real browser: typing "@" and the start of a name lists members, chosen
and inserted by keyboard alone, announced to screen readers, with no axe-core violation while
the list is open; without JavaScript the textarea still posts, and the name still links."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from forum.accounts.identity import SESSION_COOKIE
from tests.browsing import (
    Account,
    contexts,
    open_page,
    open_page_for_axe,
    open_thread,
    register,
    slug,
    violations,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

__all__ = ["contexts", "slug"]  # fixtures, used by name


def members_named_alike(server: LiveServer) -> tuple[str, list[Account]]:
    """Three members whose names start alike (and with nobody else's); that start."""
    stem = f"mz{uuid.uuid4().hex[:6]}"
    return stem, sorted(
        (register(server, stem) for _ in range(3)), key=lambda a: a.username.lower()
    )


def test_names_are_suggested_chosen_and_inserted_by_keyboard(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    stem, named = members_named_alike(server)
    author = register(server, "writer")
    page = open_page_for_axe(contexts, browser, server, author)
    open_thread(page, slug)
    textarea = page.get_by_label("Join the discussion")
    textarea.click()
    textarea.press_sequentially(f"Thanks @{stem.upper()}")

    listbox = page.get_by_role("listbox", name="Members to mention")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_text([f"@{member.username}" for member in named])
    # The first is chosen, and the textarea says so; the screen reader is told what opened.
    expect(textarea).to_have_attribute("aria-autocomplete", "list")
    controls = textarea.get_attribute("aria-controls")
    assert controls and listbox.get_attribute("id") == controls
    first_id = options.nth(0).get_attribute("id")
    expect(textarea).to_have_attribute("aria-activedescendant", first_id or "")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    status = page.locator(f"#{controls} + [role=status]")
    expect(status).to_have_text(
        "3 members to mention. Up and down arrows to choose, Enter or Tab to insert,"
        " Escape to close."
    )

    # With the list open the page still passes axe-core.
    assert violations(page) == []

    textarea.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    expect(textarea).to_have_attribute(
        "aria-activedescendant", options.nth(1).get_attribute("id") or ""
    )
    textarea.press("ArrowUp")
    textarea.press("ArrowUp")  # wraps round to the last
    expect(options.nth(2)).to_have_attribute("aria-selected", "true")
    textarea.press("ArrowDown")  # and back to the first
    textarea.press("ArrowDown")
    textarea.press("Enter")
    expect(textarea).to_have_value(f"Thanks @{named[1].username} ")
    expect(listbox).to_be_hidden()
    expect(textarea).not_to_have_attribute("aria-activedescendant", first_id or "")
    expect(textarea).to_be_focused()
    expect(status).to_have_text(f"@{named[1].username} inserted.")

    # Tab inserts too; Escape closes the list and nothing else.
    textarea.press_sequentially(f"and @{named[2].username[:-3]}")
    expect(options).to_have_text([f"@{named[2].username}"])
    textarea.press("Tab")
    expect(textarea).to_have_value(f"Thanks @{named[1].username} and @{named[2].username} ")
    expect(textarea).to_be_focused()
    textarea.press_sequentially(f"@{stem}")
    expect(listbox).to_be_visible()
    textarea.press("Escape")
    expect(listbox).to_be_hidden()
    expect(textarea).to_be_focused()
    textarea.press("Enter")  # closed: Enter is a new line again
    expect(textarea).to_have_value(
        f"Thanks @{named[1].username} and @{named[2].username} @{stem}\n"
    )

    # Posted, the names link to the members' pages.
    page.get_by_role("button", name="Post reply").click()
    reply = page.locator(".reply").filter(has_text="Thanks").first
    expect(reply.get_by_role("link", name=f"@{named[1].username}")).to_have_attribute(
        "href", f"/u/{named[1].username}"
    )
    expect(reply.get_by_role("link", name=f"@{named[2].username}")).to_be_visible()


def test_escape_in_an_answer_closes_the_list_not_the_form_under_the_csp(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    stem, _ = members_named_alike(server)
    author = register(server, "asker")
    # The forum's Content-Security-Policy in force (the axe-core test has to bypass it).
    page = open_page(contexts, browser, server, author)
    page.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.cspViolations.push(e.violatedDirective));"
    )
    open_thread(page, slug)
    page.get_by_label("Join the discussion").fill("Someone to answer")
    page.get_by_role("button", name="Post reply").click()
    reply = page.locator(".reply").filter(has_text="Someone to answer").first
    reply.get_by_role("link", name="Reply").first.click()
    answer = page.get_by_label(f"Reply to {author.username}")
    expect(answer).to_be_focused()
    answer.press_sequentially(f"@{stem}")
    listbox = page.get_by_role("listbox", name="Members to mention")
    expect(listbox).to_be_visible()
    assert page.evaluate("window.cspViolations") == []
    # Placed under the textarea, not over what the reader typed.
    under, area = listbox.bounding_box(), answer.bounding_box()
    assert under is not None and area is not None
    assert under["y"] >= area["y"] + area["height"] - 1
    answer.press("Escape")
    expect(listbox).to_be_hidden()
    expect(answer).to_be_visible()
    answer.press("Escape")  # the list is closed: now Escape closes the form, as before
    expect(answer).to_be_hidden()


def test_without_javascript_the_textarea_posts_and_the_name_links(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    _, named = members_named_alike(server)
    author = register(server, "plain")
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    contexts.append(context)
    context.add_cookies([{"name": SESSION_COOKIE, "value": author.session, "url": server.url}])
    page = context.new_page()
    page.goto(f"/a/{slug}")
    textarea = page.get_by_label("Join the discussion")
    textarea.fill(f"Plainly, @{named[0].username}")
    expect(page.get_by_role("listbox")).to_have_count(0)
    page.get_by_role("button", name="Post reply").click()
    link = page.get_by_role("link", name=f"@{named[0].username}")
    expect(link.first).to_have_attribute("href", f"/u/{named[0].username}")
