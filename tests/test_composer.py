"""The composer's preview: the reply's Markdown rendered by the server exactly as posting would
(same renderer, same sanitiser), bare addresses as links, the body limits of a reply with field
errors, members only, rate-limited; the htmx fragment and the form's help and button."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from bs4 import BeautifulSoup

from models import Article
from tests.conftest import LiveServer, Member, start_server, stop_server
from tests.test_moderation import enrol

HTMX = {"HX-Request": "true"}
RICH = """A **bold** claim, see https://example.org/report?id=7 and www.example.com.

| year | count |
|-----:|-------|
| 2024 | 12 |

```
print("hi")
```

> quoted, `inline code`
"""


async def preview(member: Member, body: object) -> httpx.Response:
    return await member.client.post("/api/preview", json={"body": body}, headers=member.headers())


async def test_the_preview_is_the_html_the_posted_reply_gets(
    member: Member, fresh_article: Article
) -> None:
    previewed = await preview(member, RICH)
    assert previewed.status_code == 200, previewed.text
    posted = await member.post_reply(RICH, slug=fresh_article.slug)
    assert posted.status_code == 201, posted.text
    assert previewed.json() == {"html": posted.json()["body_html"]}
    page = BeautifulSoup(previewed.json()["html"], "html.parser")
    assert page.select_one("table tbody td").get_text() == "2024"
    assert page.select_one("pre code").get_text() == 'print("hi")\n'
    assert page.select_one("strong").get_text() == "bold"


async def test_bare_addresses_become_links_marked_ugc(member: Member) -> None:
    html = (await preview(member, RICH)).json()["html"]
    links = BeautifulSoup(html, "html.parser").select("a")
    assert [link["href"] for link in links] == [
        "https://example.org/report?id=7",
        "http://www.example.com",
    ]
    for link in links:
        assert set(link["rel"]) >= {"nofollow", "ugc", "noopener"}
    # Not inside code.
    code = (await preview(member, "`https://example.org` and\n\n    https://example.net")).json()
    assert "<a" not in code["html"]


async def test_the_preview_is_sanitised(member: Member) -> None:
    body = (
        '<script>alert(1)</script> <img src=x onerror="alert(2)"> [x](javascript:alert(3))'
        ' <a href="https://evil.example" onclick="alert(4)">y</a>'
    )
    response = await preview(member, body)
    assert response.status_code == 200
    page = BeautifulSoup(response.json()["html"], "html.parser")
    assert page.select("script, img, [onerror], [onclick]") == []
    assert all(not a["href"].startswith("javascript") for a in page.select("a[href]"))
    # Raw HTML stays text a reader can see.
    assert "<script>alert(1)</script>" in page.get_text()


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001, None, 12, ["a"]])
async def test_a_body_a_reply_may_not_have_gets_the_replys_field_error(
    member: Member, fresh_article: Article, body: object
) -> None:
    response = await preview(member, body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert list(errors) == ["body"]
    posted = await member.client.post(
        f"/api/articles/{fresh_article.slug}/replies", json={"body": body}, headers=member.headers()
    )
    assert posted.status_code == 422
    assert posted.json()["errors"] == errors


async def test_only_members_preview(anon: httpx.AsyncClient, server: LiveServer) -> None:
    response = await anon.post("/api/preview", json={"body": "hello"})
    assert response.status_code == 401
    suspended = await enrol(server, "suspended", suspended=True)
    try:
        refused = await preview(suspended, "hello")
        assert refused.status_code == 403
    finally:
        await suspended.client.aclose()


async def test_a_preview_without_the_csrf_token_is_refused(member: Member) -> None:
    response = await member.client.post("/api/preview", json={"body": "hello"})
    assert response.status_code == 403


# The composer in the page ----------------------------------------------------------------------


async def test_the_htmx_preview_is_a_fragment_of_the_rendered_text(
    member: Member, fresh_article: Article
) -> None:
    response = await member.client.post(
        "/preview",
        data={"body": "Some *text* at https://example.org", "csrf_token": member.csrf},
        headers=HTMX,
    )
    assert response.status_code == 200, response.text
    fragment = BeautifulSoup(response.text, "html.parser")
    body = fragment.select_one(".preview-body")
    assert body is not None and body.has_attr("hx-ignore")
    assert body.select_one("em").get_text() == "text"
    assert body.select_one("a")["href"] == "https://example.org"
    assert fragment.select("html, body") == []


async def test_the_htmx_preview_of_an_empty_text_says_why(member: Member) -> None:
    response = await member.client.post(
        "/preview", data={"body": "  ", "csrf_token": member.csrf}, headers=HTMX
    )
    assert response.status_code == 422
    error = BeautifulSoup(response.text, "html.parser").select_one(".field-error[role=alert]")
    assert error is not None and "Reply" in error.get_text()


async def test_the_reply_form_has_a_preview_button_and_formatting_help(
    member: Member, fresh_article: Article
) -> None:
    page = await member.client.get(f"/a/{fresh_article.slug}")
    form = BeautifulSoup(page.text, "html.parser").select_one("#reply-form-top")
    assert form is not None
    button = form.select_one("button.preview-button")
    assert button is not None and button["hx-post"] == "/preview"
    # It needs htmx: without JavaScript it stays hidden (forum.js shows it).
    assert button.has_attr("hidden") and button.has_attr("data-needs-js")
    assert button["hx-target"] == "#reply-form-top-preview"
    assert form.select_one("#reply-form-top-preview") is not None
    help_text = form.select_one("details.format-help")
    assert help_text is not None and "Formatting help" in help_text.summary.get_text()


# The limit -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(
    server: LiveServer, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server allowing two previews a minute, over the session's database."""
    process, live = start_server(
        database_url,
        tmp_path_factory.mktemp("previews"),
        RATE_LIMITS="on",
        RATE_LIMIT_PREVIEWS="2/minute",
    )
    yield live
    stop_server(process)


@pytest_asyncio.fixture
async def limited_member(limited: LiveServer, db: None) -> AsyncIterator[Member]:
    someone = await enrol(limited, "previewer")
    yield someone
    await someone.client.aclose()


async def test_previews_are_rate_limited(limited_member: Member) -> None:
    for _ in range(2):
        assert (await preview(limited_member, "hello")).status_code == 200
    refused = await preview(limited_member, "hello")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"].isdigit()
    assert "Too many previews" in refused.json()["errors"]["body"]
