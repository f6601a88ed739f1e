"""The Content-Security-Policy in a real browser: htmx, the forum's script and the live socket
all work under it, and nothing on the article page breaks it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.conftest import PASSWORD, LiveServer, import_article, unique_name

pytestmark = pytest.mark.browser

#: Generous, only so that a broken page fails a test instead of hanging it (never a speed check).
WAIT = 15_000

#: Collects every CSP violation the page reports to its own scripts.
LISTEN_FOR_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


class Reader:
    """A signed-in page on the article, with what its console and CSP listener reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console.append(message.text)

    def violations(self) -> list[str]:
        """What the page's securitypolicyviolation listener caught."""
        return list(self.page.evaluate("window.cspViolations"))


@pytest.fixture
def open_reader(
    browser: Browser, server: LiveServer, tmp_path: Path
) -> Iterator[Callable[[], Reader]]:
    """Opens one fresh article for one more signed-in reader, each in a context of their own."""
    article = f"/a/{import_article(server, tmp_path, 'csp')}"
    contexts: list[BrowserContext] = []

    def open_page() -> Reader:
        context = browser.new_context(base_url=server.url)
        context.set_default_timeout(WAIT)
        contexts.append(context)
        account = {"username": unique_name("reader"), "password": PASSWORD}
        assert context.request.post("/api/accounts", data=account).status == 201
        assert context.request.post("/api/session", data=account).ok
        page = context.new_page()
        page.add_init_script(LISTEN_FOR_VIOLATIONS)
        reader = Reader(page)
        with page.expect_response(lambda r: r.url.endswith(article)) as loaded:
            page.goto(article)
        assert "'nonce-" in loaded.value.headers["content-security-policy"]
        return reader

    yield open_page
    for context in contexts:
        context.close()


def test_article_page_works_under_the_policy_without_violations(
    open_reader: Callable[[], Reader],
) -> None:
    writer, watcher = open_reader(), open_reader()
    page = writer.page
    # The live socket is open on both pages: presence counts them over it.
    for reader in (writer, watcher):
        expect(reader.page.locator("#presence")).to_have_text("2 reading now", timeout=WAIT)
    page.evaluate("window.pageMarker = 'never reloaded'")

    # htmx posts in place.
    form = page.locator("#reply-form-top")
    # In a reply, an image of another site's is a link (REPLY_IMAGES=link): nothing to block.
    form.locator("textarea").fill(
        "Posted under a strict policy, with ![a pixel](https://example.com/p.png)"
    )
    with page.expect_response(lambda r: r.url.endswith("/replies")) as posted:
        form.get_by_role("button", name="Post reply").click()
    assert posted.value.status == 201
    mine = page.locator("#replies > .reply").first
    expect(mine.locator(".reply-body")).to_contain_text("Posted under a strict policy")
    element_id = mine.get_attribute("id") or ""
    assert re.fullmatch(r"reply-\d+", element_id)

    # A form fetched and swapped in place, then an answer posted through it.
    mine.locator(":scope > .reply-main .reply-actions").get_by_role("link", name="Reply").click()
    answer_form = page.locator(f"#reply-form-{element_id.removeprefix('reply-')}")
    answer_form.locator("textarea").fill("An answer, also in place.")
    answer_form.get_by_role("button", name="Post reply").click()
    expect(page.locator(f"#{element_id} .reply .reply-body")).to_contain_text("An answer")
    assert page.evaluate("window.pageMarker") == "never reloaded"

    # The other reader got both over the WebSocket (the new top-level one waits behind a button).
    expect(watcher.page.locator("#new-replies")).to_have_text("Show 1 new reply", timeout=WAIT)
    watcher.page.locator("#new-replies").click()
    expect(watcher.page.locator(f"#{element_id} .reply .reply-body")).to_contain_text("An answer")

    for reader in (writer, watcher):
        assert reader.violations() == []
        assert [text for text in reader.console if "Content Security Policy" in text] == []
        assert reader.errors == []
