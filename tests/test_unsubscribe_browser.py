"""The one-click links of a notification mail, opened in a browser: a page of the site asks,
a button does it, the page says so and leads back (axe-core finds nothing on either page)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from forum.notifications.tokens import stop_mail_token, unsubscribe_token
from tests.browsing import AXE, Account, register, violations
from tests.conftest import LiveServer, import_article
from tests.site_pages import ids_of

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    """A signed-out page, as a mail reader opening a link may well be (axe comes with loads)."""
    context: BrowserContext = browser.new_context(base_url=server.url, bypass_csp=True)
    context.set_default_timeout(10_000)
    context.add_init_script(path=str(AXE))
    yield context.new_page()
    context.close()


def following(server: LiveServer, account: Account, slug: str) -> bool:
    """Whether the thread's page shows the account that it follows the thread."""
    with account.api(server) as client:
        return "/unfollow" in client.get(f"/a/{slug}").text


def test_leaving_a_thread_from_the_mail_asks_does_it_and_leads_back(
    page: Page, server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    slug = import_article(server, tmp_path_factory.mktemp("articles"), "leave")
    reader = register(server, "leaver")
    with reader.api(server) as client:
        assert client.post(f"/api/articles/{slug}/subscription").status_code == 200
    user_id, article_id = ids_of(server, reader.username, slug)
    page.goto(f"/unsubscribe/{unsubscribe_token(server.env['SECRET_KEY'], user_id, article_id)}")

    expect(page.get_by_role("heading", level=1)).to_have_text("Leave this thread?")
    expect(page.get_by_role("banner").get_by_role("link", name="forum")).to_be_visible()
    assert violations(page, inject=False) == []
    assert following(server, reader, slug)  # opening the link did nothing

    page.get_by_role("button", name="Leave this thread").click()
    expect(page.get_by_role("status")).to_contain_text("no more emails or notifications")
    assert violations(page, inject=False) == []
    assert not following(server, reader, slug)
    page.get_by_role("link", name="Back to").click()
    expect(page).to_have_url(f"{server.url}/a/{slug}")


def test_stopping_all_mail_from_the_mail_asks_does_it_and_leads_home(
    page: Page, server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    slug = import_article(server, tmp_path_factory.mktemp("articles"), "stop")
    reader = register(server, "stopper")
    user_id, _ = ids_of(server, reader.username, slug)
    page.goto(f"/unsubscribe/{stop_mail_token(server.env['SECRET_KEY'], user_id)}")

    expect(page.get_by_role("heading", level=1)).to_have_text("Stop all email from the forum?")
    with reader.api(server) as client:
        assert client.get("/api/me").json()["email_notifications"] is True
    page.get_by_role("button", name="Stop all email").click()
    expect(page.get_by_role("status")).to_contain_text("no more notification emails")
    assert violations(page, inject=False) == []
    with reader.api(server) as client:
        assert client.get("/api/me").json()["email_notifications"] is False
    page.get_by_role("main").get_by_role("link", name="Back to the forum").click()
    expect(page).to_have_url(f"{server.url}/")
