"""The discussion in a real browser: with htmx (in place, no reload) and with JavaScript off."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page

from tests.conftest import PASSWORD, SLUG, LiveServer, unique_name

pytestmark = pytest.mark.browser

ARTICLE = f"/a/{SLUG}"


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A page in a fresh browser context (own cookies) with JavaScript on."""
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def static_page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A page in a fresh browser context with JavaScript off: plain forms and links only."""
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def register(page: Page) -> str:
    """Register a new account through the form, starting from the article; return its name."""
    page.goto(ARTICLE)
    page.locator(".sign-in-prompt").get_by_role("link", name="register").click()
    page.wait_for_url(re.compile(r"/register\?next="))
    username = unique_name("reader")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(lambda url: urlsplit(url).path == ARTICLE)
    assert page.locator(".signed-in strong").inner_text() == username
    return username


def reply_id(reply: Locator) -> int:
    """The reply's id, from its element id "reply-42"."""
    element_id = reply.get_attribute("id") or ""
    match = re.fullmatch(r"reply-(\d+)", element_id)
    assert match, element_id
    return int(match.group(1))


def permalink_id(url: str) -> int:
    """The reply id in a permalink, /a/{slug}/r/42#reply-42."""
    match = re.search(r"/r/(\d+)", url)
    assert match, url
    return int(match.group(1))


def fragment_id(url: str) -> int:
    """The reply id in a URL's fragment, /a/{slug}#reply-42."""
    match = re.search(r"#reply-(\d+)$", url)
    assert match, url
    return int(match.group(1))


def reply_with_text(page: Page, text: str) -> Locator:
    """The reply in the thread whose own body (not its children's) holds this text."""
    return page.locator("#replies article.reply").filter(
        has=page.locator(":scope > .reply-main .reply-body", has_text=text)
    )


def is_inside(page: Page, inner: str, outer: str) -> bool:
    """Whether the element matching `inner` lies inside the one matching `outer`."""
    script = "([a, b]) => !!document.querySelector(b)?.contains(document.querySelector(a))"
    return bool(page.evaluate(script, [inner, outer]))


def test_post_and_answer_in_place_with_htmx(page: Page) -> None:
    username = register(page)
    page.evaluate("window.pageMarker = 'still the same page'")

    top_text = f"Top-level thought {uuid.uuid4().hex[:8]}"
    top_form = page.locator("#reply-form-top")
    top_form.get_by_role("textbox").fill(top_text)
    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as posted:
        top_form.get_by_role("button", name="Post reply").click()
    assert posted.value.status == 201
    top = reply_with_text(page, top_text)
    top.wait_for()
    top_id = reply_id(top)
    assert is_inside(page, f"#reply-{top_id}", "#replies")
    assert top.locator(":scope > .reply-main .author").inner_text() == username
    assert page.locator("#reply-form-top textarea").input_value() == ""
    assert page.evaluate("window.pageMarker") == "still the same page"

    top.locator(":scope > .reply-main .reply-actions").get_by_role("link", name="Reply").click()
    nested_form = page.locator(f"#reply-form-{top_id}")
    nested_form.wait_for()
    assert is_inside(page, f"#reply-form-{top_id}", f"#reply-slot-{top_id}")
    textarea = nested_form.locator("textarea")
    assert page.evaluate("document.activeElement?.id") == textarea.get_attribute("id")

    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as rejected:
        nested_form.get_by_role("button", name="Post reply").click()
    assert rejected.value.status == 422
    error = nested_form.locator(".field-error")
    error.wait_for()
    assert error.inner_text().strip()
    assert nested_form.locator("textarea").get_attribute("aria-invalid") == "true"
    assert nested_form.locator("textarea + .field-error").count() == 1
    assert page.evaluate("document.activeElement?.id") == f"reply-form-{top_id}-body"
    assert page.locator(f"#children-{top_id} > .reply").count() == 0

    nested_text = f"Nested answer {uuid.uuid4().hex[:8]}"
    nested_form.locator("textarea").fill(nested_text)
    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as answered:
        nested_form.get_by_role("button", name="Post reply").click()
    assert answered.value.status == 201
    nested = reply_with_text(page, nested_text)
    nested.wait_for()
    nested_id = reply_id(nested)
    assert is_inside(page, f"#reply-{nested_id}", f"#children-{top_id}")
    assert nested.get_attribute("data-depth") == "1"
    assert page.locator(f"#reply-slot-{top_id} .field-error").count() == 0
    assert page.locator(f"#reply-slot-{top_id} [role=status]").is_visible()

    replies_before = page.locator("#replies > .reply").count()
    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as blank:
        top_form.get_by_role("button", name="Post reply").click()
    assert blank.value.status == 422
    top_form.locator("textarea + .field-error").wait_for()
    assert page.locator("#replies > .reply").count() == replies_before
    assert page.evaluate("window.pageMarker") == "still the same page"

    page.reload()
    assert is_inside(page, f"#reply-{nested_id}", f"#children-{top_id}")
    assert is_inside(page, f"#reply-{top_id}", "#replies")

    # On the nested reply's permalink its parent is shown as context, and answerable in place.
    page.goto(f"{ARTICLE}/r/{nested_id}")
    assert is_inside(page, f"#reply-{top_id}", ".context")
    page.evaluate("window.pageMarker = 'the permalink page'")
    page.locator(f"#reply-{top_id} .reply-actions").get_by_role("link", name="Reply").click()
    page.locator(f"#reply-form-{top_id} textarea").wait_for()
    assert is_inside(page, f"#reply-form-{top_id}", f"#reply-slot-{top_id}")
    assert page.evaluate("window.pageMarker") == "the permalink page"
    assert page.evaluate("document.activeElement?.id") == f"reply-form-{top_id}-body"


def test_post_and_answer_without_javascript(static_page: Page) -> None:
    page = static_page
    register(page)

    top_text = f"Plain form thought {uuid.uuid4().hex[:8]}"
    page.locator("#reply-form-top textarea").fill(top_text)
    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as posted:
        page.locator("#reply-form-top").get_by_role("button", name="Post reply").click()
    assert posted.value.status == 303
    # Back in the thread at the new reply, not on the reply's own page.
    page.wait_for_url(re.compile(re.escape(ARTICLE) + r"#reply-\d+$"))
    top_id = fragment_id(page.url)
    top = page.locator(f"#reply-{top_id}")
    assert top.locator(":scope > .reply-main .reply-body").inner_text().strip() == top_text
    assert is_inside(page, f"#reply-{top_id}", "#replies")
    highlight = top.locator(":scope > .reply-main").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    page_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert highlight not in ("rgba(0, 0, 0, 0)", page_background)

    top.locator(":scope > .reply-main .reply-actions").get_by_role("link", name="Reply").click()
    page.wait_for_url(re.compile(re.escape(f"{ARTICLE}/r/{top_id}/reply")))
    form = page.locator(f"#reply-form-{top_id}")
    assert form.get_attribute("action") == f"{ARTICLE}/replies"
    assert form.locator("input[name=parent_id]").input_value() == str(top_id)

    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as rejected:
        form.get_by_role("button", name="Post reply").click()
    assert rejected.value.status == 422
    form = page.locator(f"#reply-form-{top_id}")
    assert form.locator("textarea + .field-error").inner_text().strip()
    assert form.locator("textarea").get_attribute("aria-invalid") == "true"
    assert page.locator(f"#children-{top_id} > .reply").count() == 0

    nested_text = f"Plain form answer {uuid.uuid4().hex[:8]}"
    form.locator("textarea").fill(nested_text)
    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as answered:
        form.get_by_role("button", name="Post reply").click()
    assert answered.value.status == 303
    # The answer's top-level reply is on the thread's first page: back there, at the answer.
    page.wait_for_url(re.compile(re.escape(ARTICLE) + r"#reply-\d+$"))
    nested_id = fragment_id(page.url)
    assert nested_id != top_id
    assert page.locator(f"#reply-{nested_id} .reply-body").inner_text().strip() == nested_text
    assert is_inside(page, f"#reply-{nested_id}", f"#children-{top_id}")

    page.goto(f"{ARTICLE}/r/{top_id}/reply")
    with page.expect_response(lambda r: r.url.endswith(f"{ARTICLE}/replies")) as blank:
        page.locator(f"#reply-form-{top_id} textarea").fill("   ")
        page.locator(f"#reply-form-{top_id}").get_by_role("button", name="Post reply").click()
    assert blank.value.status == 422
    page.goto(ARTICLE)
    assert page.locator(f"#children-{top_id} > .reply").count() == 1


def post_as_someone_else(server: LiveServer, body: str) -> int:
    """Register another member through the API and post a top-level reply; return its id."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        username = unique_name("other")
        account = {"username": username, "password": PASSWORD}
        assert client.post("/api/accounts", json=account).status_code == 201
        csrf = client.post("/api/session", json=account).json()["csrf_token"]
        posted = client.post(
            f"/api/articles/{SLUG}/replies", json={"body": body}, headers={"X-CSRF-Token": csrf}
        )
        assert posted.status_code == 201, posted.text
        return int(posted.json()["id"])


def own_controls(page: Page, reply: str) -> tuple[Locator, Locator]:
    """The Edit and Delete links of one reply (not of its children)."""
    actions = page.locator(f"{reply} > .reply-main .reply-actions")
    return actions.get_by_role("link", name="Edit"), actions.get_by_role("link", name="Delete")


def test_edit_and_delete_own_reply_in_place(page: Page, server: LiveServer) -> None:
    theirs = post_as_someone_else(server, "Somebody else's opinion")
    register(page)
    original = f"First draft {uuid.uuid4().hex[:8]}"
    page.locator("#reply-form-top textarea").fill(original)
    page.locator("#reply-form-top").get_by_role("button", name="Post reply").click()
    mine = reply_with_text(page, original)
    mine.wait_for()
    mine_id = reply_id(mine)
    edit, delete = own_controls(page, f"#reply-{mine_id}")
    assert edit.is_visible() and delete.is_visible()
    their_edit, their_delete = own_controls(page, f"#reply-{theirs}")
    assert page.locator(f"#reply-{theirs} > .reply-main .reply-actions").is_visible()
    assert not their_edit.is_visible() and not their_delete.is_visible()

    page.evaluate("window.pageMarker = 'still the same page'")
    edit.click()
    edit_form = page.locator(f"#reply-{mine_id}-main form.edit-form")
    edit_form.wait_for()
    assert edit_form.locator("textarea").input_value() == original
    assert page.evaluate("document.activeElement?.id") == f"edit-{mine_id}-body"
    edited = f"Second thoughts {uuid.uuid4().hex[:8]}"
    edit_form.locator("textarea").fill(edited)
    edit_form.get_by_role("button", name="Save").click()
    body = page.locator(f"#reply-{mine_id} > .reply-main .reply-body")
    body.filter(has_text=edited).wait_for()
    assert page.locator(f"#reply-{mine_id} > .reply-main .edited").is_visible()

    page.locator(f"#reply-{mine_id} > .reply-main .reply-actions").get_by_role(
        "link", name="Reply"
    ).click()
    page.locator(f"#reply-form-{mine_id} textarea").fill("An afterthought to myself")
    page.locator(f"#reply-form-{mine_id}").get_by_role("button", name="Post reply").click()
    child = page.locator(f"#children-{mine_id} > .reply")
    child.wait_for()
    child_id = reply_id(child)

    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    with page.expect_response(lambda r: r.url.endswith(f"/r/{mine_id}/delete")) as stubbed:
        own_controls(page, f"#reply-{mine_id}")[1].click()
    assert stubbed.value.status == 200
    assert dialogs == ["Delete this reply? This cannot be undone."]
    page.locator(f"#reply-{mine_id} > .reply-main .stub").wait_for()
    assert page.locator(f"#reply-{mine_id} > .reply-main .reply-body").count() == 0
    assert is_inside(page, f"#reply-{child_id}", f"#children-{mine_id}")

    with page.expect_response(lambda r: r.url.endswith(f"/r/{child_id}/delete")) as deleted:
        own_controls(page, f"#reply-{child_id}")[1].click()
    assert deleted.value.status == 200
    assert len(dialogs) == 2
    page.locator(f"#reply-{mine_id}").wait_for(state="detached")
    assert page.evaluate("window.pageMarker") == "still the same page"
    page.reload()
    assert page.locator(f"#reply-{mine_id}, #reply-{child_id}").count() == 0
    assert page.locator(f"#reply-{theirs}").count() == 1
