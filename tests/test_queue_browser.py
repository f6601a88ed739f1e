"""The moderators' queue at speed, in Chromium: keyboard shortcuts with their help dialog,
actions in place with focus that follows, ticking several (or all of one author's) and acting
once, the audit log on a phone, and the goal: 50 flagged replies from 5 authors cleared in
under 20 actions."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browsing import (
    Account,
    contexts,
    flag,
    moderator,
    open_page_for_axe,
    post,
    register,
    register_moderator,
    violations,
)
from tests.conftest import LiveServer, import_article

pytestmark = pytest.mark.browser

__all__ = ["contexts", "moderator"]  # fixtures, used by name


@pytest.fixture(scope="module")
def flagger(server: LiveServer) -> Account:
    """A reader who flags."""
    return register(server, "watcher")


@pytest.fixture
def slug(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An article of the test's own, with an empty discussion."""
    return import_article(server, tmp_path_factory.mktemp("articles"), "queue")


@dataclass(frozen=True)
class Queue:
    """What a queue test acts with: the server, the browser, a moderator, a flagger and an
    article to post the flagged replies under."""

    server: LiveServer
    browser: Browser
    contexts: list[BrowserContext]
    moderator: Account
    flagger: Account
    slug: str

    def clear(self) -> None:
        """Dismiss whatever earlier tests left flagged, so that this test's queue is its own."""
        with self.moderator.api(self.server) as client:
            while True:
                queue = client.get("/api/mod/flags", params={"limit": 200}).json()
                if not queue["flags"]:
                    return
                ids = [item["reply_id"] for item in queue["flags"]]
                payload = {"action": "dismiss", "reply_ids": ids}
                done = client.post("/api/mod/flags/bulk", json=payload)
                assert done.status_code == 200, done.text

    def seed(self, authors: list[Account], each: int) -> dict[str, list[int]]:
        """each flagged replies by every author: their ids by author."""
        seeded: dict[str, list[int]] = {}
        for author in authors:
            for number in range(each):
                reply_id = post(self.server, author, self.slug, f"Buy cheap things, take {number}")
                flag(self.server, self.flagger, reply_id)
                seeded.setdefault(author.username, []).append(reply_id)
        return seeded

    def page(self, who: Account) -> Page:
        """A page signed in as who (axe can be injected into it)."""
        return open_page_for_axe(self.contexts, self.browser, self.server, who)

    def open(self, who: Account) -> Page:
        """who's queue, open and live."""
        page = self.page(who)
        page.goto("/mod/flags")
        expect(page.get_by_role("button", name="Keyboard shortcuts (?)")).to_be_visible()
        return page


@pytest.fixture
def queue(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    flagger: Account,
    slug: str,
) -> Queue:
    """The queue as this test's moderator and flagger see it (not cleared: see Queue.clear)."""
    return Queue(server, browser, contexts, moderator, flagger, slug)


def items(page: Page) -> Locator:
    """The queue's items as they are now."""
    return page.locator(".flag-item")


def focused_author(page: Page) -> str:
    """The author of the queue item that has focus."""
    return str(page.evaluate("document.activeElement.closest('.flag-item').dataset.author"))


class Actions:
    """Counts what a person does: each click and each key pressed or option chosen."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str) -> None:
        self.count += 1
        self.page.keyboard.press(key)

    def click(self, target: Locator) -> None:
        self.count += 1
        target.click()

    def choose(self, target: Locator, value: str) -> None:
        self.count += 1
        target.select_option(value)


def test_fifty_flagged_replies_from_five_authors_are_cleared_in_under_twenty_actions(
    queue: Queue,
) -> None:
    queue.clear()
    authors = [register(queue.server, f"seller{number}") for number in range(5)]
    queue.seed(authors, 10)
    page = queue.open(queue.moderator)
    expect(page.locator("#flag-total")).to_have_text("50 flagged replies")
    expect(items(page)).to_have_count(50)
    page.evaluate("window.pageMarker = 'never reloaded'")
    person = Actions(page)

    # Four authors are spammers. The first: all of theirs (a), a reason, "Hide selected".
    person.press("j")
    author = focused_author(page)
    person.press("a")
    expect(page.locator("#bulk-selection")).to_contain_text(f"all 10 flagged replies by {author}")
    person.choose(page.get_by_label("Reason to hide"), "spam")
    person.click(page.get_by_role("button", name="Hide selected"))
    handled = [author]
    # Then the keyboard alone: focus follows to what is left, the reason stays chosen.
    for _ in range(3):
        expect(page.locator(f'.flag-item[data-author="{handled[-1]}"]')).to_have_count(0)
        expect(page.locator(".flag-item:focus")).to_have_count(1)
        author = focused_author(page)
        person.press("a")
        expect(page.locator("#bulk-selection")).to_contain_text(f"by {author}")
        person.press("h")
        handled.append(author)
    expect(page.locator("#flag-total")).to_have_text("10 flagged replies")
    # The fifth was flagged wrongly: tick all of theirs with the mouse and dismiss.
    (last,) = {account.username for account in authors} - set(handled)
    person.click(page.get_by_role("button", name=f"Select all by {last} (10)").first)
    person.click(page.get_by_role("button", name="Dismiss selected"))

    expect(page.locator("#flag-total")).to_have_text("0 flagged replies")
    expect(items(page)).to_have_count(0)
    expect(page.get_by_text("No flagged replies. All quiet.")).to_be_visible()
    assert page.evaluate("window.pageMarker") == "never reloaded"
    assert person.count < 20, person.count
    with queue.moderator.api(queue.server) as client:
        assert client.get("/api/mod/flags").json()["total"] == 0


def test_shortcuts_move_act_and_never_fire_while_typing(queue: Queue) -> None:
    queue.clear()
    author = register(queue.server, "chatty")
    queue.seed([author], 4)
    page = queue.open(queue.moderator)
    order = items(page).evaluate_all("found => found.map(item => item.id)")
    first, second, third, fourth = (page.locator(f"#{item}") for item in order)

    page.keyboard.press("j")
    expect(first).to_be_focused()
    page.keyboard.press("j")
    expect(second).to_be_focused()
    page.keyboard.press("k")
    expect(first).to_be_focused()
    page.keyboard.press("x")
    expect(first.get_by_role("checkbox")).to_be_checked()
    expect(page.locator("#bulk-selection")).to_have_text("Selected: 1 reply.")
    page.keyboard.press("x")
    expect(first.get_by_role("checkbox")).not_to_be_checked()

    # Typing in a field: letters are letters, not shortcuts.
    note = page.get_by_label("Note (required for “other”)")
    note.click()
    page.keyboard.type("jhdxs?")
    expect(note).to_have_value("jhdxs?")
    expect(note).to_be_focused()
    expect(items(page)).to_have_count(4)
    expect(page.get_by_role("dialog")).to_have_count(0)

    # d dismisses the focused item in place; focus goes to the next one.
    first.focus()
    page.keyboard.press("d")
    expect(first).to_have_count(0)
    expect(second).to_be_focused()

    # h opens the hide form in the item with its first reason focused; hidden, focus moves on.
    page.keyboard.press("h")
    reason = second.get_by_role("radio", name="spam")
    expect(reason).to_be_focused()
    page.keyboard.press("Space")
    second.get_by_role("button", name="Hide", exact=True).click()
    expect(second).to_have_count(0)
    expect(third).to_be_focused()

    # s opens "Suspend the author" with its reason field ready to type in.
    page.keyboard.press("s")
    expect(third.get_by_label("Reason (shown to them)")).to_be_focused()
    page.keyboard.type("Spam")
    third.get_by_label("Also hide all their replies").check()
    page.once("dialog", lambda dialog: dialog.accept())
    third.get_by_role("button", name="Suspend").click()
    expect(third).to_have_count(0)
    expect(fourth).to_have_count(0)
    expect(page.locator("#flag-total")).to_have_text("0 flagged replies")


def test_the_help_dialog_opens_with_question_mark_and_closes_with_escape(queue: Queue) -> None:
    author = register(queue.server, "helped")
    queue.seed([author], 1)
    page = queue.open(queue.moderator)
    page.keyboard.press("j")
    focused = page.evaluate("document.activeElement.id")
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Next / previous flagged reply")
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("j")  # inside the dialog, shortcuts sleep
    expect(dialog).to_be_visible()
    assert violations(page) == []
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == focused

    button = page.get_by_role("button", name="Keyboard shortcuts (?)")
    button.click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()


def test_ticked_replies_are_hidden_at_once_in_place_and_refusals_keep_the_ticks(
    queue: Queue,
) -> None:
    queue.clear()
    author = register(queue.server, "mixed")
    ids = queue.seed([author], 4)[author.username]
    colleague = register_moderator(queue.server, "othermod")
    watching = queue.open(colleague)
    page = queue.open(queue.moderator)
    page.evaluate("window.pageMarker = 'never reloaded'")
    chosen = [page.locator(f"#flag-item-{reply_id}") for reply_id in ids[:2]]
    for item in chosen:
        item.get_by_role("checkbox").check()
    expect(page.locator("#bulk-selection")).to_have_text("Selected: 2 replies.")

    page.get_by_role("button", name="Hide selected").click()
    form = page.locator("#bulk-form")
    expect(form.get_by_role("alert")).to_have_text(
        "Choose a reason: spam, abuse, off-topic or other."
    )
    expect(page.get_by_label("Reason to hide")).to_have_accessible_description(
        "Choose a reason: spam, abuse, off-topic or other."
    )
    for item in chosen:
        expect(item.get_by_role("checkbox")).to_be_checked()
    assert violations(page) == []

    # A hide form half filled in another item.
    busy = page.locator(f"#flag-item-{ids[2]}")
    busy.get_by_role("link", name="Hide…").click()
    busy.get_by_label("Note (required for “other”)").fill("Half typed")
    # Another moderator dismisses one meanwhile: it leaves this queue live; the ticks and what
    # was typed stay.
    with colleague.api(queue.server) as client:
        payload = {"action": "dismiss", "reply_ids": [ids[3]]}
        assert client.post("/api/mod/flags/bulk", json=payload).status_code == 200
    expect(page.locator(f"#flag-item-{ids[3]}")).to_have_count(0)
    for item in chosen:
        expect(item.get_by_role("checkbox")).to_be_checked()
    expect(busy.get_by_label("Note (required for “other”)")).to_have_value("Half typed")

    page.get_by_label("Reason to hide").select_option("other")
    page.locator("#bulk-note").fill("Copied from elsewhere")
    page.get_by_role("button", name="Hide selected").click()
    expect(page.locator("#bulk-status")).to_have_text("Hid 2 replies.")
    for item in chosen:
        expect(item).to_have_count(0)
    expect(page.locator(f"#flag-item-{ids[2]}")).to_be_visible()
    expect(page.locator(f"#flag-item-{ids[2]}").get_by_role("checkbox")).not_to_be_checked()
    expect(page.locator("#flag-total")).to_have_text("1 flagged reply")
    assert page.evaluate("window.pageMarker") == "never reloaded"
    # Every moderator's open queue loses them too.
    for reply_id in ids[:2]:
        expect(watching.locator(f"#flag-item-{reply_id}")).to_have_count(0)
    expect(watching.locator("#flag-total")).to_have_text("1 flagged reply")


def test_the_audit_log_fits_a_phone(queue: Queue) -> None:
    author = register(queue.server, "longwinded")
    ids = queue.seed([author], 1)[author.username]
    note = "See https://example.org/" + "a-very-long-address-without-spaces-" * 4
    with queue.moderator.api(queue.server) as client:
        payload = {"action": "hide", "reply_ids": ids, "reason": "other", "note": note[:500]}
        assert client.post("/api/mod/flags/bulk", json=payload).status_code == 200
    page = queue.page(queue.moderator)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/mod/log")
    expect(page.get_by_text(re.compile("a-very-long-address")).first).to_be_visible()
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    assert violations(page) == []
    page.goto("/mod/flags")
    assert violations(page) == []
