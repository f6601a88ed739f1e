"""Passages and quotes in a real browser: text selected in the article offers "Discuss this
passage", the reply posted shows the quote and the passage's count changes in another open
page; text selected in a reply offers "Quote", which fills the composer."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browsing import contexts, open_page, open_page_for_axe, open_thread, register, violations
from tests.conftest import LiveServer, forum_command

pytestmark = pytest.mark.browser

__all__ = ["contexts"]  # a fixture, used by name

BODY = """\
The opening paragraph of this article makes a claim worth arguing about.

## Second thoughts

The closing paragraph.
"""


@pytest.fixture(scope="module")
def slug(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An article of several passages, imported with the command line."""
    slug = f"passages-{uuid.uuid4().hex[:10]}"
    source: Path = tmp_path_factory.mktemp("articles") / f"{slug}.md"
    source.write_text(f"---\nslug: {slug}\ntitle: Passages {slug}\n---\n\n{BODY}")
    forum_command(server, "import-article", str(source))
    return slug


def select_words(page: Page, selector: str, words: str) -> None:
    """Select these words inside the first text of the element, as a reader's drag would."""
    page.evaluate(
        """([selector, words]) => {
            const element = document.querySelector(selector);
            const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
            let node;
            while ((node = walker.nextNode())) {
                const at = node.data.indexOf(words);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + words.length);
                const selection = document.getSelection();
                selection.removeAllRanges();
                selection.addRange(range);
                return;
            }
            throw new Error("no such words");
        }""",
        [selector, words],
    )


def test_discuss_a_passage_then_quote_the_reply(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    writer, reader = register(server, "writer"), register(server, "reader")
    reader_page = open_page(contexts, browser, server, reader)
    open_thread(reader_page, slug)
    reader_page.evaluate("window.pageMarker = 'never reloaded'")

    page = open_page(contexts, browser, server, writer)
    open_thread(page, slug)
    first = page.locator(".article-body p[id]").first
    anchor = str(first.get_attribute("id"))
    reader_count = reader_page.locator(f"#passage-count-{anchor}")
    expect(reader_count).to_be_hidden()

    select_words(page, f"#{anchor}", "makes a claim")
    page.get_by_role("button", name="Discuss this passage").click()
    composer = page.locator("#reply-form-top")
    expect(composer.get_by_label("Quote from the passage")).to_have_value("makes a claim")
    expect(composer.get_by_label("Join the discussion")).to_be_focused()
    composer.get_by_label("Join the discussion").fill("That claim needs a source.")
    with page.expect_response(lambda r: r.url.endswith(f"/a/{slug}/replies")) as answered:
        composer.get_by_role("button", name="Post reply").click()
    assert answered.value.status == 201
    reply = page.locator(".reply", has_text="That claim needs a source.")
    expect(reply.locator(".passage-quote blockquote")).to_have_text("makes a claim")
    expect(reply.locator(".passage-quote a")).to_have_attribute("href", f"/a/{slug}#{anchor}")
    # The composer is fresh: the next reply is about no passage unless asked again.
    expect(page.locator("#reply-form-top .passage-fields")).to_be_hidden()

    expect(reader_count).to_be_visible()
    expect(reader_count).to_contain_text("1 reply")
    assert reader_page.evaluate("window.pageMarker") == "never reloaded"

    # The reader quotes the reply, by keyboard from the selection.
    reply_id = str(reply.get_attribute("id")).removeprefix("reply-")
    reader_page.get_by_role("button", name="Show 1 new reply").click()
    shown = reader_page.locator(f"#reply-{reply_id} .reply-body")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("That claim needs a source.")
    expect(reader_page.locator(f"#reply-{reply_id} .passage-quote")).to_contain_text(
        "makes a claim"
    )
    select_words(reader_page, f"#reply-{reply_id} .reply-body", "needs a source")
    quote = reader_page.get_by_role("button", name="Quote")
    quote.focus()
    reader_page.keyboard.press("Enter")
    body = reader_page.locator("#reply-form-top textarea[name=body]")
    expect(body).to_be_focused()
    expect(body).to_have_value(
        f"[{writer.username} wrote](/a/{slug}/r/{reply_id}#reply-{reply_id}):\n> needs a source\n\n"
    )

    # With the reply's own reply form open, the quote goes there.
    reader_page.locator(f"#reply-{reply_id} > .reply-main .reply-actions").get_by_role(
        "link", name="Reply"
    ).click()
    answer = reader_page.locator(f"#reply-form-{reply_id} textarea[name=body]")
    expect(answer).to_be_visible()
    select_words(reader_page, f"#reply-{reply_id} .reply-body", "That claim")
    reader_page.get_by_role("button", name="Quote").click()
    expect(answer).to_have_value(
        f"[{writer.username} wrote](/a/{slug}/r/{reply_id}#reply-{reply_id}):\n> That claim\n\n"
    )
    expect(answer).to_be_focused()


def test_a_signed_out_reader_is_taken_to_the_passage_composer(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    page = open_page(contexts, browser, server, None)
    open_thread(page, slug)
    heading = page.locator(".article-body h2[id]").first
    anchor = str(heading.get_attribute("id"))
    select_words(page, f"#{anchor}", "Second")
    page.get_by_role("button", name="Discuss this passage").click()
    page.wait_for_url(f"**/a/{slug}/discuss?passage={anchor}&quote=Second")
    expect(page.locator("#passage-shown")).to_have_text("Second thoughts")
    expect(page.get_by_role("link", name="Sign in").last).to_be_visible()


def test_passages_and_their_composer_have_no_axe_violations(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], slug: str
) -> None:
    member = register(server, "axe")
    page = open_page_for_axe(contexts, browser, server, member)
    page.goto(f"/a/{slug}")
    anchor = str(page.locator(".article-body p[id]").first.get_attribute("id"))
    with member.api(server) as client:
        posted = client.post(
            f"/api/articles/{slug}/replies",
            json={"body": "About it.", "passage": anchor, "quote": "opening paragraph"},
        )
        assert posted.status_code == 201, posted.text
    found: dict[str, list[str]] = {}
    for path in (
        f"/a/{slug}",
        f"/a/{slug}?passage={anchor}",
        f"/a/{slug}/discuss?passage={anchor}",
    ):
        page.goto(path)
        if problems := violations(page):
            found[path] = problems
    # The composer with a passage chosen, and the button a selection offers.
    page.goto(f"/a/{slug}")
    select_words(page, f"#{anchor}", "opening")
    page.get_by_role("button", name="Discuss this passage").click()
    select_words(page, f"#{anchor}", "paragraph")
    expect(page.get_by_role("button", name="Discuss this passage")).to_be_visible()
    if problems := violations(page):
        found["composer"] = problems
    assert found == {}
