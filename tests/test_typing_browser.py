"""Who is writing, in two real pages: one types, the other reads "… is replying…" where the
reply will go, until it is posted; a reader can turn it off; axe-core finds nothing wrong."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browsing import (
    contexts,
    open_page,
    open_page_for_axe,
    open_thread,
    post,
    register,
    slug,
    violations,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

__all__ = ["contexts", "slug"]  # fixtures, used by name


def write(page: Page, form_id: str, text: str) -> None:
    """Type into a reply form's textarea key by key, as a reader does."""
    page.locator(f"#{form_id}-body").press_sequentially(text)


def test_a_reader_sees_who_is_replying_until_the_reply_is_posted(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    writer, reader = register(server, "writer"), register(server, "reader")
    writing, reading = (open_page(contexts, browser, server, who) for who in (writer, reader))
    for page in (reading, writing):
        open_thread(page, slug)

    write(writing, "reply-form-top", "A thought in progress")
    indicator = reading.locator("#typing-top")
    expect(indicator).to_be_visible()
    expect(indicator).to_have_text(f"{writer.username} is replying…")
    expect(reading.locator("#typing-status")).to_have_text(f"{writer.username} is replying…")
    expect(writing.locator("#typing-top")).to_be_hidden()  # never one's own

    writing.get_by_role("button", name="Post reply").first.click()
    expect(reading.locator("#live-buffer .reply, #replies .reply").last).to_be_attached()
    expect(indicator).to_be_hidden()


def test_an_answer_in_progress_shows_under_the_reply_it_answers(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    author, writer, reader = (register(server, name) for name in ("author", "writer", "reader"))
    reply_id = post(server, author, slug, "Answer me")
    writing, reading = (open_page(contexts, browser, server, who) for who in (writer, reader))
    sent: list[str] = []
    writing.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    for page in (reading, writing):
        open_thread(page, slug)

    # Turned off, the writer's page sends nothing while they type; turned on again, it does.
    writers_toggle = writing.get_by_role("checkbox", name="Show who is replying")
    writers_toggle.uncheck()
    writing.locator(f"#reply-{reply_id}-main").get_by_role("link", name="Reply").click()
    write(writing, f"reply-form-{reply_id}", "Here is")
    writers_toggle.check()
    write(writing, f"reply-form-{reply_id}", " my answer")
    under = reading.locator(f"#reply-{reply_id} > #typing-{reply_id}")
    expect(under).to_have_text(f"{writer.username} is replying…")
    expect(reading.locator("#typing-top")).to_be_hidden()
    assert len([frame for frame in sent if '"typing"' in frame]) == 1

    # The writer stopped typing without posting: the page forgets them (6 s after the frame).
    expect(under).to_be_hidden(timeout=20_000)

    # A reader turns it off for themselves: the page remembers it.
    toggle = reading.get_by_role("checkbox", name="Show who is replying")
    toggle.uncheck()
    reading.reload()
    expect(reading.get_by_role("checkbox", name="Show who is replying")).not_to_be_checked()


def test_the_indicator_has_no_axe_violations(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    first, second, reader = (register(server, name) for name in ("first", "second", "reader"))
    reading = open_page_for_axe(contexts, browser, server, reader)
    open_thread(reading, slug)
    for who in (first, second):
        page = open_page(contexts, browser, server, who)
        open_thread(page, slug)
        write(page, "reply-form-top", "Typing")
    names = sorted((first.username, second.username))
    expect(reading.locator("#typing-top")).to_have_text(f"{names[0]} and {names[1]} are replying…")
    assert violations(reading) == []
