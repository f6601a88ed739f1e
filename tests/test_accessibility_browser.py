"""Every page passes axe-core (npm `axe-core`, a dev dependency: injected by Playwright into
the page under test, never served by the forum), as visitors, members and moderators see them,
light and dark, at a desktop and a phone width. The pages are those of the route table
(tests/site_pages.py), so a page added tomorrow is checked tomorrow."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.browsing import AXE, contexts, open_page_for_axe, post, register, violations
from tests.conftest import LiveServer, forum_command, import_article
from tests.site_pages import VIEWERS, Site, html_pages, is_document, seed_site

pytestmark = pytest.mark.browser

__all__ = ["contexts"]  # a fixture, used by name

SIZES = [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]
#: Every way a page is looked at: light and dark, desktop and phone.
LOOKS: list[tuple[str, dict[str, int]]] = [
    (scheme, size) for scheme in ("light", "dark") for size in SIZES
]


@pytest.fixture(scope="module")
def scene(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An article with a short thread, a member and a moderator, and a flagged reply."""
    slug = import_article(server, tmp_path_factory.mktemp("articles"), "axe")
    member, moderator = register(server, "reader"), register(server, "mod")
    forum_command(server, "promote", moderator.username, "--role", "moderator")
    top = post(
        server, member, slug, "A first thought, with *emphasis* and a [link](https://example.org)."
    )
    with member.api(server) as client:
        answer = client.post(
            f"/api/articles/{slug}/replies", json={"body": "An answer.", "parent_id": top}
        )
        assert answer.status_code == 201
    with moderator.api(server) as client:
        client.post(f"/api/replies/{top}/flags", json={"reason": "spam"})
    flagger = register(server, "flagger")
    with flagger.api(server) as client:
        assert client.post(f"/api/replies/{top}/flags", json={"reason": "spam"}).status_code == 201
    return {"slug": slug, "reply": top, "member": member, "moderator": moderator}


def test_forms_opened_in_place_and_their_errors_have_no_axe_violations(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], scene: dict[str, Any]
) -> None:
    slug, reply = scene["slug"], scene["reply"]
    page = open_page_for_axe(contexts, browser, server, scene["moderator"])
    page.goto(f"/a/{slug}")
    actions = page.locator(f"#reply-{reply} > .reply-main .reply-actions")
    actions.get_by_role("link", name="Reply").click()
    form = page.locator(f"#reply-form-{reply}")
    form.get_by_role("button", name="Post reply").click()
    form.get_by_role("alert").wait_for()
    assert violations(page) == []
    form.get_by_role("link", name="Cancel").click()
    actions.get_by_role("link", name="Hide").click()
    hide = page.locator(f"#hide-form-{reply}")
    hide.get_by_role("radio", name="other").check()
    hide.get_by_role("button", name="Hide").click()
    hide.get_by_role("alert").wait_for()
    assert violations(page) == []


@pytest.fixture(scope="module")
def site(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The seeded scene whose pages the sweep looks at."""
    return seed_site(server, tmp_path_factory.mktemp("site"))


def test_every_page_has_no_axe_violations_light_and_dark_on_desktop_and_phone(
    browser: Browser, server: LiveServer, contexts: list[BrowserContext], site: Site
) -> None:
    pages = [key for key, html in html_pages(site).items() if is_document(html)]
    assert {viewer for viewer, _ in pages} == set(VIEWERS)
    found: dict[str, list[str]] = {}
    for viewer in VIEWERS:
        # One page per viewer, reused: a load per path, then every look at it. axe comes with
        # each load (an init script): injected afterwards, it costs more than the checks.
        page = open_page_for_axe(contexts, browser, server, site.accounts[viewer])
        page.context.add_init_script(path=str(AXE))
        for who, path in sorted(pages):
            if who != viewer:
                continue
            page.goto(path)
            for scheme, size in LOOKS:
                page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                page.set_viewport_size(size)
                problems = violations(page, inject=False)
                if problems:
                    found[f"{viewer} {path} {scheme} {size['width']}"] = problems
    assert found == {}, "\n".join(f"{key}: {problems}" for key, problems in found.items())
