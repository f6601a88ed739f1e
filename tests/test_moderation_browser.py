"""Moderation in a real browser: a reply hidden in place reaches the readers' open pages, and a
suspended member's open page is told and stops listening."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, WebSocket, expect

from tests.browsing import (
    Account,
    contexts,
    flag,
    moderator,
    open_page,
    open_thread,
    post,
    register,
    slug,
)
from tests.conftest import LiveServer, forum_command

pytestmark = pytest.mark.browser

__all__ = ["contexts", "moderator", "slug"]  # fixtures, used by name

#: docs/live.md: the close code of a suspended member's socket (do not reconnect).
CLOSE_SUSPENDED = 4403


def test_a_moderator_hides_a_reply_and_readers_lose_it_live(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    slug: str,
) -> None:
    author, reader = register(server, "author"), register(server, "reader")
    reply_id = post(server, author, slug, "Buy cheap watches here")
    reader_page = open_page(contexts, browser, server, reader)
    open_thread(reader_page, slug)
    reader_page.evaluate("window.pageMarker = 'never reloaded'")
    reader_actions = reader_page.locator(f"#reply-{reply_id} > .reply-main .reply-actions")
    expect(reader_actions.get_by_role("link", name="Hide")).to_be_hidden()

    page = open_page(contexts, browser, server, moderator)
    open_thread(page, slug)
    page.evaluate("window.pageMarker = 'the same page'")
    actions = page.locator(f"#reply-{reply_id} > .reply-main .reply-actions")
    actions.get_by_role("link", name="Hide").click()
    form = page.locator(f"#reply-slot-{reply_id} form.moderation-form")
    form.wait_for()
    form.get_by_label("spam").check()
    with page.expect_response(lambda r: r.url.endswith(f"/r/{reply_id}/hide")) as hidden:
        form.get_by_role("button", name="Hide").click()
    assert hidden.value.status == 200
    marker = page.locator(f"#reply-{reply_id} > .reply-main .hidden-marker")
    expect(marker).to_contain_text("spam")
    expect(page.locator(f"#reply-{reply_id} > .reply-main .reply-body")).to_contain_text(
        "Buy cheap watches here"
    )
    assert page.evaluate("window.pageMarker") == "the same page"

    reader_page.locator(f"#reply-{reply_id}").wait_for(state="detached")
    expect(reader_page.get_by_text("Buy cheap watches here")).to_have_count(0)
    assert reader_page.evaluate("window.pageMarker") == "never reloaded"


def test_a_suspended_members_open_page_is_told_and_its_socket_closes(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    slug: str,
) -> None:
    member = register(server, "member")
    page = open_page(contexts, browser, server, member)
    frames: list[str] = []

    def listen(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", listen)
    open_thread(page, slug)

    with moderator.api(server) as client:
        suspended = client.post(f"/api/users/{member.username}/suspend", json={"reason": "Spam"})
    assert suspended.status_code == 200, suspended.text

    notice = page.locator(".suspended-notice")
    expect(notice).to_have_text("Your account has been suspended.")
    assert notice.get_attribute("role") == "alert"
    page.wait_for_function("window.liveClosed !== undefined")
    assert page.evaluate("window.liveClosed") == CLOSE_SUSPENDED
    assert any('"type":"suspended"' in frame for frame in frames), frames


def test_a_demoted_moderators_page_says_so_and_reconnects_as_a_reader(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    slug: str,
) -> None:
    demoted = register(server, "demoted")
    forum_command(server, "promote", demoted.username, "--role", "moderator")
    admin = register(server, "admin")
    forum_command(server, "promote", admin.username, "--role", "admin")
    author = register(server, "author")
    page = open_page(contexts, browser, server, demoted)
    open_thread(page, slug)
    page.get_by_label("Join the discussion").fill("Half-written words")

    with admin.api(server) as client:
        changed = client.post(f"/api/users/{demoted.username}/role", json={"role": "reader"})
    assert changed.status_code == 200, changed.text

    notice = page.get_by_role("alert").filter(has_text="Your role changed")
    expect(notice).to_be_visible()
    expect(notice.get_by_role("link", name="Reload the page")).to_be_visible()
    page.wait_for_function("window.liveClosed !== undefined")
    assert page.evaluate("window.liveClosed") == 4409
    # Nothing typed is lost, and the page goes on live, now as a reader's: a reply hidden by a
    # moderator is removed from it rather than shown marked hidden.
    expect(page.get_by_label("Join the discussion")).to_have_value("Half-written words")
    expect(page.locator("#presence")).to_contain_text("reading now")
    reply_id = post(server, author, slug, "Soon hidden")
    page.get_by_role("button", name="Show 1 new reply").click()
    expect(page.locator(f"#reply-{reply_id}")).to_be_visible()
    with moderator.api(server) as client:
        hidden = client.post(f"/api/replies/{reply_id}/hide", json={"reason": "spam"})
    assert hidden.status_code == 200, hidden.text
    page.locator(f"#reply-{reply_id}").wait_for(state="detached")


def test_suspending_asks_first_under_the_content_security_policy(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
) -> None:
    member = register(server, "member")
    page = open_page(contexts, browser, server, moderator)
    page.goto(f"/u/{member.username}")
    page.get_by_label("Reason (shown to them)").fill("Spamming")
    page.get_by_label("Also hide all their replies").check()
    asked: list[str] = []

    def decline(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("button", name="Suspend")).to_be_visible()
    assert asked == [f"Suspend {member.username} and hide all their replies?"]
    with httpx.Client(base_url=server.url) as client:
        assert client.get(f"/api/users/{member.username}").json()["suspended"] is False

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("button", name="Lift the suspension")).to_be_visible()


def test_the_queue_says_how_many_and_pages_through_all_of_them(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    slug: str,
) -> None:
    author, flagger = register(server, "prolific"), register(server, "watcher")
    mine = [post(server, author, slug, f"Flag-worthy {number}") for number in range(51)]
    for reply_id in mine:
        flag(server, flagger, reply_id)
    page = open_page(contexts, browser, server, moderator)
    page.goto("/mod/flags")
    total = int(page.locator("#flag-total").inner_text().split()[0])
    assert total >= 51
    seen: list[str] = []
    while True:
        seen += page.locator(".flag-item").evaluate_all("items => items.map(i => i.id)")
        following = page.get_by_role("link", name="Next page →")
        if not following.count():
            break
        following.click()
        page.wait_for_load_state()
    assert len(seen) == len(set(seen)) == total
    assert {f"flag-item-{reply_id}" for reply_id in mine} <= set(seen)


def test_flags_are_handled_in_place_and_leave_every_open_queue(
    browser: Browser,
    server: LiveServer,
    contexts: list[BrowserContext],
    moderator: Account,
    slug: str,
) -> None:
    spammer, rude = register(server, "spammer"), register(server, "rude")
    spam = post(server, spammer, slug, "Cheap pills, top-flagged")
    insult = post(server, rude, slug, "You are all idiots, top-flagged")
    # Flagged by many: at the top of the queue's first page.
    for flagger in (register(server, f"flagger{number}") for number in range(4)):
        flag(server, flagger, spam)
        flag(server, flagger, insult)
    other = register(server, "othermod")
    forum_command(server, "promote", other.username, "--role", "moderator")
    watching = open_page(contexts, browser, server, other)
    watching.goto("/mod/flags")
    page = open_page(contexts, browser, server, moderator)
    page.goto("/mod/flags")
    expect(watching.locator(f"#flag-item-{spam}")).to_be_visible()

    item = page.locator(f"#flag-item-{spam}")
    item.get_by_role("link", name="Hide…").click()
    item.get_by_role("radio", name="spam").check()
    item.get_by_role("button", name="Hide", exact=True).click()
    expect(item).to_have_count(0)
    expect(page.locator(":focus")).to_have_class(re.compile("flag-item"))
    expect(watching.locator(f"#flag-item-{spam}")).to_have_count(0)

    item = page.locator(f"#flag-item-{insult}")
    item.get_by_text(f"Suspend {rude.username}…").click()
    item.get_by_label("Reason (shown to them)").fill("Insults")
    item.get_by_label("Also hide all their replies").check()
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Suspend").click()
    expect(item).to_have_count(0)
    expect(watching.locator(f"#flag-item-{insult}")).to_have_count(0)
    with httpx.Client(base_url=server.url) as client:
        assert client.get(f"/api/users/{rude.username}").json()["suspended"] is True
