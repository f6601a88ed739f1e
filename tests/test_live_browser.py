"""The live thread in real browsers: two readers on one article, each seeing what the other does
without a reload, the "N new replies" button, presence, and catch-up after a lost connection."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, WebSocketRoute, expect

from tests.conftest import (
    PASSWORD,
    SLUG,
    LiveServer,
    import_article,
    start_server,
    stop_server,
    unique_name,
)

pytestmark = pytest.mark.browser

#: Generous, only so that a broken page fails a test instead of hanging it (never a speed check).
WAIT = 15_000

#: Opens the article in a new browser context: signed in as a new member, or signed out.
OpenReader = Callable[..., Page]


@pytest.fixture
def article(server: LiveServer, tmp_path: Path) -> str:
    """A fresh article with an empty discussion, added by the import command; its path."""
    return f"/a/{import_article(server, tmp_path, 'live')}"


@pytest.fixture
def open_reader(browser: Browser, server: LiveServer, article: str) -> Iterator[OpenReader]:
    """Opens the article for one more reader, each in a browser context of their own."""
    contexts: list[BrowserContext] = []

    def open_page(*, signed_in: bool = True) -> Page:
        context = browser.new_context(base_url=server.url)
        context.set_default_timeout(WAIT)
        contexts.append(context)
        if signed_in:
            # context.request shares the context's cookies: the session cookie lands in the page.
            account = {"username": unique_name("reader"), "password": PASSWORD}
            assert context.request.post("/api/accounts", data=account).status == 201
            assert context.request.post("/api/session", data=account).ok
        page = context.new_page()
        page.goto(article)
        page.evaluate("window.pageMarker = 'never reloaded'")
        return page

    yield open_page
    for context in contexts:
        context.close()


def never_reloaded(page: Page) -> bool:
    """Whether the page is still the one first loaded (the marker survives in-place swaps)."""
    return bool(page.evaluate("window.pageMarker === 'never reloaded'"))


def wait_until_live(*pages: Page) -> None:
    """Wait until every page's socket is open and counted: presence reports them all."""
    for page in pages:
        expect(page.locator("#presence")).to_have_text(f"{len(pages)} reading now", timeout=WAIT)


def reply_id_of(element_id: str | None) -> int:
    """The reply id in an element id "reply-42"."""
    match = re.fullmatch(r"reply-(\d+)", element_id or "")
    assert match, element_id
    return int(match.group(1))


def post_top_level(page: Page, text: str) -> int:
    """Post a top-level reply through the page's own form (htmx, in place); its id."""
    form = page.locator("#reply-form-top")
    form.locator("textarea").fill(text)
    with page.expect_response(lambda r: r.url.endswith("/replies")) as posted:
        form.get_by_role("button", name="Post reply").click()
    assert posted.value.status == 201
    reply = page.locator("#replies > .reply").filter(
        has=page.locator(":scope > .reply-main .reply-body", has_text=text)
    )
    reply.wait_for()
    return reply_id_of(reply.get_attribute("id"))


def answer(page: Page, parent_id: int, text: str) -> int:
    """Answer a reply through its Reply link and the form opened in place; the answer's id."""
    actions = page.locator(f"#reply-{parent_id} > .reply-main .reply-actions")
    actions.get_by_role("link", name="Reply").click()
    form = page.locator(f"#reply-form-{parent_id}")
    form.locator("textarea").fill(text)
    with page.expect_response(lambda r: r.url.endswith("/replies")) as posted:
        form.get_by_role("button", name="Post reply").click()
    assert posted.value.status == 201
    child = page.locator(f"#children-{parent_id} > .reply").filter(
        has=page.locator(":scope > .reply-main .reply-body", has_text=text)
    )
    child.wait_for()
    return reply_id_of(child.get_attribute("id"))


def seen_up_to(page: Page, seq: int) -> None:
    """Wait until the page has received the thread's events up to seq (its data-last-seq)."""
    expect(page.locator("#live")).to_have_attribute("data-last-seq", str(seq), timeout=WAIT)


def body_of(page: Page, reply_id: int) -> str:
    """A reply's own text (not its children's)."""
    return page.locator(f"#reply-{reply_id} > .reply-main .reply-body").inner_text().strip()


def username_of(page: Page) -> str:
    """Who is signed in on the page."""
    return page.locator(".signed-in strong").inner_text()


def top_level_ids(page: Page) -> list[int]:
    """The ids of the top-level replies in the thread, in page order."""
    ids = page.locator("#replies > .reply").evaluate_all("replies => replies.map(r => r.id)")
    return [reply_id_of(element_id) for element_id in ids]


def focused_id(page: Page) -> str:
    """The id of the element that has keyboard focus."""
    return str(page.evaluate("document.activeElement?.id"))


def watch_new_replies_button(page: Page) -> None:
    """Note in window.buttonShown whether the page ever shows its "N new replies" button."""
    page.evaluate(
        """() => {
            const button = document.getElementById("new-replies");
            window.buttonShown = false;
            new MutationObserver(() => { window.buttonShown ||= !button.hidden; })
                .observe(button, { attributes: true, attributeFilter: ["hidden"] });
        }"""
    )


def test_an_answer_appears_under_its_parent_in_other_pages(open_reader: OpenReader) -> None:
    a = open_reader()
    question = f"A question {uuid.uuid4().hex[:8]}"
    parent_id = post_top_level(a, question)
    b = open_reader()
    signed_out = open_reader(signed_in=False)
    assert body_of(b, parent_id) == question
    wait_until_live(a, b, signed_out)
    # B is writing an answer of their own to the same reply when A's arrives.
    b.locator(f"#reply-{parent_id} > .reply-main .reply-actions").get_by_text("Reply").click()
    draft = b.locator(f"#reply-form-{parent_id} textarea")
    draft.press_sequentially("I was about to say")

    text = f"An answer {uuid.uuid4().hex[:8]}"
    child_id = answer(a, parent_id, text)

    for page in (b, signed_out):
        child = page.locator(f"#children-{parent_id} > #reply-{child_id}")
        expect(child.locator(":scope > .reply-main .reply-body")).to_have_text(text, timeout=WAIT)
        assert child.get_attribute("data-depth") == "1"
        assert page.locator(f"#reply-{child_id}").count() == 1
        assert page.locator("#live-buffer > *").count() == 0
        assert page.locator("#new-replies").is_hidden()
        expect(page.locator("#reply-count")).to_have_text("2 replies", timeout=WAIT)
        expect(page.locator("#live-status")).to_have_text(f"New reply from {username_of(a)}.")
        assert never_reloaded(page)
    assert focused_id(b) == f"reply-form-{parent_id}-body"
    assert draft.input_value() == "I was about to say"
    # Only the author sees the edit links of the reply; the other pages got the same markup.
    assert not b.locator(f"#reply-{child_id} > .reply-main .own-only").first.is_visible()

    # The author's page had it from its own post and from the live event: shown once, and not
    # announced to its author as somebody's new reply.
    seen_up_to(a, 2)
    assert a.locator(f"#reply-{child_id}").count() == 1
    assert a.locator(f"#children-{parent_id} > .reply").count() == 1
    expect(a.locator("#reply-count")).to_have_text("2 replies", timeout=WAIT)
    assert a.locator("#live-status").inner_text() == ""
    assert never_reloaded(a)


def test_a_new_top_level_reply_waits_behind_a_button(open_reader: OpenReader) -> None:
    a = open_reader()
    earlier_id = post_top_level(a, "An earlier thought")
    b = open_reader()
    wait_until_live(a, b)
    watch_new_replies_button(a)
    textarea = b.locator("#reply-form-top textarea")
    textarea.click()
    draft = "Half a sentence of my own"
    textarea.press_sequentially(draft)

    text = f"A new thought {uuid.uuid4().hex[:8]}"
    new_id = post_top_level(a, text)

    button = b.locator("#new-replies")
    expect(button).to_have_text("Show 1 new reply", timeout=WAIT)
    expect(button).to_be_visible()
    expect(b.locator("#live-status")).to_have_text(f"New reply from {username_of(a)}.")
    expect(b.locator("#reply-count")).to_have_text("2 replies")
    assert top_level_ids(b) == [earlier_id]
    assert b.locator(f"#reply-{new_id}").is_hidden()
    # Nothing moved under the reader's caret: same field focused, same text, caret at its end.
    assert focused_id(b) == "reply-form-top-body"
    assert textarea.input_value() == draft
    assert textarea.evaluate("el => [el.selectionStart, el.selectionEnd]") == [len(draft)] * 2

    button.focus()
    b.keyboard.press("Enter")
    expect(b.locator(f"#replies > #reply-{new_id}")).to_be_visible()
    assert top_level_ids(b) == [new_id, earlier_id]
    assert body_of(b, new_id) == text
    expect(button).to_be_hidden()
    expect(b.locator("#live-status")).to_have_text("1 new reply shown.")
    # The button is gone, so keyboard focus moves to where the new replies start.
    assert focused_id(b) == f"reply-{new_id}"
    assert b.locator(f"#reply-{new_id}").count() == 1
    assert textarea.input_value() == draft
    assert never_reloaded(b)

    # The author's page shows its own reply once, at the top, never held back behind the button.
    seen_up_to(a, 2)
    assert top_level_ids(a) == [new_id, earlier_id]
    assert a.locator("#live-buffer > *").count() == 0
    assert a.evaluate("window.buttonShown") is False
    assert a.locator("#live-status").inner_text() == ""
    expect(a.locator("#reply-count")).to_have_text("2 replies")


def test_the_authors_page_counts_a_reply_posted_while_its_socket_was_down(
    open_reader: OpenReader,
) -> None:
    a = open_reader()
    wait_until_live(a)
    # The socket drops (4401, as when an account changes: htmx reconnects) and cannot come back
    # (each attempt is refused with 1011) while the page posts over HTTP.
    refused: list[str] = []
    network = {"down": True}

    def connect(socket: WebSocketRoute) -> None:
        if network["down"]:
            refused.append(socket.url)
            socket.close(code=1011)
        else:
            socket.connect_to_server()

    a.route_web_socket(re.compile(r"/live$"), connect)
    a.evaluate("document.getElementById('live')._htmx.ws.connection.socket.close(4401)")
    while not refused:
        a.wait_for_timeout(50)
    reply_id = post_top_level(a, "Posted while the socket was closed")

    network["down"] = False
    # The replay brings the page's own reply again: it stays once, and the count follows.
    seen_up_to(a, 1)
    expect(a.locator("#reply-count")).to_have_text("1 reply", timeout=WAIT)
    assert top_level_ids(a) == [reply_id]
    assert a.locator("#live-buffer > *").count() == 0
    assert a.locator("#new-replies").is_hidden()


def test_edits_and_deletions_reach_other_pages(open_reader: OpenReader) -> None:
    a = open_reader()
    parent_id = post_top_level(a, "A first draft")
    child_id = answer(a, parent_id, "An answer to myself")
    b = open_reader()
    wait_until_live(a, b)
    # B starts an answer to the reply A is about to edit: the edit must not wipe it.
    b.locator(f"#reply-{parent_id} > .reply-main .reply-actions").get_by_text("Reply").click()
    b.locator(f"#reply-form-{parent_id} textarea").press_sequentially("Hold on")

    a.locator(f"#reply-{parent_id} > .reply-main .reply-actions").get_by_text("Edit").click()
    edit_form = a.locator(f"#reply-{parent_id}-main form.edit-form")
    edited = f"Second thoughts {uuid.uuid4().hex[:8]}"
    edit_form.locator("textarea").fill(edited)
    edit_form.get_by_role("button", name="Save").click()
    expect(b.locator(f"#reply-{parent_id} > .reply-main .reply-body")).to_have_text(
        edited, timeout=WAIT
    )
    assert b.locator(f"#reply-{parent_id} > .reply-main .edited").is_visible()
    assert b.locator(f"#reply-form-{parent_id} textarea").input_value() == "Hold on"
    assert focused_id(b) == f"reply-form-{parent_id}-body"

    def accept(dialog: Dialog) -> None:
        dialog.accept()

    a.on("dialog", accept)
    a.locator(f"#reply-{parent_id} > .reply-main .reply-actions").get_by_text("Delete").click()
    expect(b.locator(f"#reply-{parent_id} > .reply-main .stub")).to_have_text(
        "[deleted]", timeout=WAIT
    )
    assert b.locator(f"#reply-{parent_id} > .reply-main .reply-body").count() == 0
    assert b.locator(f"#children-{parent_id} > #reply-{child_id}").count() == 1
    assert body_of(b, child_id) == "An answer to myself"

    # A reply with nothing under it goes, and so does the stub it leaves with nothing under it.
    a.locator(f"#reply-{child_id} > .reply-main .reply-actions").get_by_text("Delete").click()
    expect(b.locator(f"#reply-{child_id}")).to_have_count(0, timeout=WAIT)
    expect(b.locator(f"#reply-{parent_id}")).to_have_count(0, timeout=WAIT)
    expect(b.locator("#reply-count")).to_have_text("0 replies", timeout=WAIT)
    assert never_reloaded(a) and never_reloaded(b)


def test_presence_counts_the_open_pages(open_reader: OpenReader) -> None:
    a = open_reader()
    b = open_reader()
    expect(a.locator("#presence")).to_have_text("2 reading now", timeout=WAIT)
    expect(b.locator("#presence")).to_have_text("2 reading now", timeout=WAIT)
    a.close()
    expect(b.locator("#presence")).to_have_text("1 reading now", timeout=WAIT)


def test_a_page_that_was_offline_catches_up_once(open_reader: OpenReader) -> None:
    a = open_reader()
    parent_id = post_top_level(a, "Go on, answer this")
    b = open_reader()
    wait_until_live(a, b)

    # B loses the network: its socket drops and reconnecting fails until it is back online.
    b.context.set_offline(True)
    b.evaluate("document.getElementById('live')._htmx.ws.connection.socket.close()")
    expect(a.locator("#presence")).to_have_text("1 reading now", timeout=WAIT)
    answers = [answer(a, parent_id, f"Answer {n} while B is away") for n in (1, 2)]
    top_id = post_top_level(a, "A new thought while B is away")
    seen_up_to(a, 4)
    assert b.locator(".reply").count() == 1

    b.context.set_offline(False)
    # B resumes from the last event it saw: everything it missed arrives, each reply once.
    wait_until_live(a, b)
    seen_up_to(b, 4)
    children = b.locator(f"#children-{parent_id} > .reply")
    expect(children).to_have_count(2, timeout=WAIT)
    assert [reply_id_of(i) for i in children.evaluate_all("rs => rs.map(r => r.id)")] == answers
    expect(b.locator("#new-replies")).to_have_text("Show 1 new reply")
    b.locator("#new-replies").click()
    assert top_level_ids(b) == [top_id, parent_id]
    for reply_id in (parent_id, *answers, top_id):
        assert b.locator(f"#reply-{reply_id}").count() == 1
        assert a.locator(f"#reply-{reply_id}").count() == 1
    expect(b.locator("#reply-count")).to_have_text("4 replies")
    assert never_reloaded(b)


def test_a_page_past_the_socket_cap_says_so_and_does_not_reconnect(
    browser: Browser, database_url: str, tmp_path: Path
) -> None:
    process, server = start_server(database_url, tmp_path, LIVE_SOCKETS_PER_VISITOR="1")
    context = browser.new_context(base_url=server.url)
    try:
        context.set_default_timeout(WAIT)
        first = context.new_page()
        first.goto(f"/a/{SLUG}")
        expect(first.locator("#presence")).to_have_text("1 reading now")
        second = context.new_page()
        sockets: list[str] = []
        second.on("websocket", lambda socket: sockets.append(socket.url))
        second.goto(f"/a/{SLUG}")
        paused = "Too many open pages: live updates paused here."
        expect(second.locator("#presence")).to_have_text(paused)
        # htmx dropped the connection rather than scheduling another attempt.
        assert second.evaluate("document.getElementById('live')._htmx.ws.connection") is None
        assert len(sockets) == 1
        expect(first.locator("#presence")).to_have_text("1 reading now")
    finally:
        context.close()
        stop_server(process)
