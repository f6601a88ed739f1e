"""Replies: posting, listing, editing and deleting through the JSON API and the HTML forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from bs4 import BeautifulSoup, Tag

from models import Article, Reply, ReplyStatus
from tests.conftest import SLUG, LiveServer, Member, sign_up, start_server, stop_server
from tests.test_moderation import enrol

HTMX = {"HX-Request": "true"}
REPLY_FIELDS = {
    "id",
    "parent_id",
    "author",
    "body_html",
    "created_at",
    "edited_at",
    "deleted",
    "reply_count",
    "url",
    "score",
    "voted",
    # The passage of the article a reply is about, and its quote (null for most: test_passages).
    "passage",
    "quote",
    "pinned",
}
LINK_REL = {"nofollow", "ugc", "noopener", "noreferrer"}
#: The author may edit a reply for EDIT_WINDOW_SECONDS, 15 minutes unless configured.
EDIT_WINDOW = timedelta(minutes=15)


@pytest_asyncio.fixture(scope="module")
async def member(server: LiveServer) -> AsyncIterator[Member]:
    """A signed-in member shared by this module's tests (signing up costs two argon2 hashes)."""
    someone = await sign_up(server)
    yield someone
    await someone.client.aclose()


@pytest_asyncio.fixture(scope="module")
async def other_member(server: LiveServer) -> AsyncIterator[Member]:
    """A second shared member, for checks across accounts."""
    someone = await sign_up(server)
    yield someone
    await someone.client.aclose()


def parse(html: str) -> BeautifulSoup:
    """An HTML page or fragment, parsed."""
    return BeautifulSoup(html, "html.parser")


def is_fragment(page: BeautifulSoup) -> bool:
    """Whether a response is a piece of a page (for htmx) rather than a whole document."""
    return page.find("html") is None and page.find("body") is None


def reply_ids(elements: list[Tag]) -> list[int]:
    """The reply ids of rendered replies (their id="reply-N")."""
    return [int(str(element["id"]).removeprefix("reply-")) for element in elements]


def login_next(location: str) -> str:
    """Where a redirect to the sign-in page will return to."""
    url = urlsplit(location)
    assert url.path == "/login"
    [next_path] = parse_qs(url.query)["next"]
    return next_path


async def reply_rows() -> int:
    """How many replies the database holds."""
    return await Reply.all().count()


async def post(member: Member, body: str, parent_id: int | None = None, slug: str = SLUG) -> int:
    """Post a reply through the API and return its id."""
    response = await member.post_reply(body, parent_id, slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def get_reply(client: httpx.AsyncClient, reply_id: int) -> httpx.Response:
    """GET /api/replies/{id}."""
    return await client.get(f"/api/replies/{reply_id}")


async def listing(client: httpx.AsyncClient, slug: str, **params: Any) -> dict[str, Any]:
    """One page of GET /api/articles/{slug}/replies."""
    response = await client.get(f"/api/articles/{slug}/replies", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def every_page(client: httpx.AsyncClient, slug: str, **params: Any) -> list[int]:
    """The ids of a whole level of the thread, following next_cursor."""
    ids: list[int] = []
    cursor = None
    while True:
        page = await listing(client, slug, **params, **({"cursor": cursor} if cursor else {}))
        ids += [reply["id"] for reply in page["replies"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    """The csrf_token hidden field of the reply form on a page."""
    field = parse((await client.get(path)).text).select_one(
        "form.reply-form input[name=csrf_token]"
    )
    assert field is not None
    return str(field["value"])


async def post_form(
    member: Member,
    slug: str,
    body: str,
    parent_id: int | None = None,
    *,
    htmx: bool = False,
) -> httpx.Response:
    """Submit the reply form as a browser would (with htmx or without)."""
    token = await form_token(member.client, f"/a/{slug}")
    fields = {"body": body, "parent_id": str(parent_id or ""), "csrf_token": token}
    return await member.client.post(f"/a/{slug}/replies", data=fields, headers=HTMX if htmx else {})


def assert_inert(html: str) -> None:
    """Nothing in html can run script; every link is marked as user content."""
    fragment = parse(html)
    assert fragment.find(["script", "iframe", "object", "embed", "svg", "style"]) is None
    for element in fragment.find_all(True):
        for name, value in element.attrs.items():
            assert not name.lower().startswith("on"), element
            if name in ("href", "src"):
                assert "javascript:" not in "".join(str(value).split()).lower(), element
    for link in fragment.find_all("a"):
        assert set(link["rel"]) == LINK_REL, link


# Posting through the API


async def test_posting_answers_201_with_the_reply(
    member: Member, server: LiveServer, db: None
) -> None:
    response = await member.post_reply("Hello *world*, see [this](https://example.org/page).")
    assert response.status_code == 201
    reply = response.json()
    assert set(reply) == REPLY_FIELDS
    assert reply["parent_id"] is None
    assert reply["author"] == member.username
    assert reply["edited_at"] is None
    assert reply["deleted"] is False
    assert reply["reply_count"] == 0
    assert reply["url"] == f"{server.url}/a/{SLUG}/r/{reply['id']}#reply-{reply['id']}"
    assert datetime.fromisoformat(reply["created_at"]).tzinfo is not None
    body = parse(reply["body_html"])
    assert body.select_one("p em").get_text() == "world"
    assert body.select_one("a")["href"] == "https://example.org/page"
    row = await Reply.get(id=reply["id"]).select_related("author", "article")
    assert row.author.username == member.username
    assert row.article.slug == SLUG
    assert row.source == "Hello *world*, see [this](https://example.org/page)."
    assert (await get_reply(member.client, reply["id"])).json() == reply


async def test_replying_to_a_reply(member: Member, other_member: Member, db: None) -> None:
    parent_id = await post(member, "A question?")
    response = await other_member.post_reply("An answer.", parent_id)
    assert response.status_code == 201
    answer = response.json()
    assert answer["parent_id"] == parent_id
    assert answer["author"] == other_member.username
    assert (await get_reply(member.client, parent_id)).json()["reply_count"] == 1
    row = await Reply.get(id=answer["id"])
    assert (row.parent_id, row.depth, row.ancestry) == (parent_id, 1, f"{parent_id}/")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [('{"body": "fine"}', "application/json"), ('{"body": ""}', "application/json"),
     ("not json", "application/json"), ("body=fine", "application/x-www-form-urlencoded")],
)  # fmt: skip
async def test_posting_signed_out_is_401_before_anything_else(
    anon: httpx.AsyncClient, db: None, content: str, content_type: str
) -> None:
    before = await reply_rows()
    response = await anon.post(
        f"/api/articles/{SLUG}/replies", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 401
    assert list(response.json()["errors"]) == ["detail"]
    assert await reply_rows() == before


async def test_posting_without_the_csrf_token_is_403(member: Member, db: None) -> None:
    before = await reply_rows()
    for body in ("fine", ""):
        response = await member.client.post(f"/api/articles/{SLUG}/replies", json={"body": body})
        assert response.status_code == 403
        assert list(response.json()["errors"]) == ["csrf_token"]
    assert await reply_rows() == before


async def test_posting_needs_json(member: Member, db: None) -> None:
    before = await reply_rows()
    response = await member.client.post(
        f"/api/articles/{SLUG}/replies", data={"body": "fine"}, headers=member.headers()
    )
    assert response.status_code == 415
    bad = await member.client.post(
        f"/api/articles/{SLUG}/replies",
        content="{not json",
        headers={**member.headers(), "Content-Type": "application/json"},
    )
    assert bad.status_code == 422
    assert list(bad.json()["errors"]) == ["json"]
    assert await reply_rows() == before


async def test_parent_must_exist_in_the_same_article(
    member: Member, fresh_article: Article
) -> None:
    elsewhere = await post(member, "In another discussion.", slug=fresh_article.slug)
    before = await reply_rows()
    for parent_id in (elsewhere, 2**31 - 1):
        response = await member.post_reply("Lost?", parent_id)
        assert response.status_code == 404, parent_id
        assert "errors" in response.json()
    assert await reply_rows() == before


@pytest.mark.parametrize("parent_id", ["abc", True, 1.5, [1], "²", 2**31, 2**63, 0, -3])
async def test_parent_id_must_be_an_id(member: Member, db: None, parent_id: object) -> None:
    before = await reply_rows()
    response = await member.client.post(
        f"/api/articles/{SLUG}/replies",
        json={"body": "fine", "parent_id": parent_id},
        headers=member.headers(),
    )
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["parent_id"]
    assert await reply_rows() == before


async def test_posting_to_an_unknown_article_is_404(member: Member, db: None) -> None:
    before = await reply_rows()
    response = await member.post_reply("Hello?", slug="no-such-article")
    assert response.status_code == 404
    assert "errors" in response.json()
    assert await reply_rows() == before


@pytest.mark.parametrize(
    ("body", "status"),
    [("", 422), ("   \n\t  ", 422), ("x" * 10_001, 422), (None, 422), (42, 422),
     ("x", 201), ("x" * 10_000, 201), ("  padded  ", 201)],
    ids=["empty", "whitespace", "10001", "null", "number", "1", "10000", "padded"],
)  # fmt: skip
async def test_body_limits(member: Member, db: None, body: object, status: int) -> None:
    before = await reply_rows()
    response = await member.client.post(
        f"/api/articles/{SLUG}/replies", json={"body": body}, headers=member.headers()
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert list(response.json()["errors"]) == ["body"]
        assert response.json()["errors"]["body"]
        assert await reply_rows() == before
    else:
        assert await reply_rows() == before + 1
        row = await Reply.get(id=response.json()["id"])
        assert row.source == str(body).strip()


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](java\tscript:alert(1))",
        "<javascript:alert(1)>",
        '<a href="javascript:alert(1)">raw link</a>',
        "<img src=x onerror=alert(1)>",
        '![pic](https://example.org/x.png" onerror="alert(1))',
        "![pic](javascript:alert(1))",
        "<svg onload=alert(1)><style>*{}</style>",
        '<p onclick="alert(1)">hi</p>',
    ],
)
async def test_markup_in_a_reply_is_rendered_inert(member: Member, attack: str) -> None:
    body = f"{attack}\n\nAnd a [real link](https://example.org/)."
    response = await member.post_reply(body)
    assert response.status_code == 201
    reply = response.json()
    assert_inert(reply["body_html"])
    links = parse(reply["body_html"]).select("a[href='https://example.org/']")
    assert [link.get_text() for link in links] == ["real link"]
    page = parse((await member.client.get(f"/a/{SLUG}/r/{reply['id']}")).text)
    rendered = page.select_one(f"#reply-{reply['id']} .reply-body")
    assert rendered is not None
    assert_inert(str(rendered))


async def test_markdown_is_rendered_with_headings_out_of_the_pages_outline(
    member: Member,
) -> None:
    body = "# Big\n\n###### Small\n\n- one\n- two\n\n`code` and **bold**\nsame paragraph"
    body += "\n\n```\nwide code\n```"
    html = parse((await member.post_reply(body)).json()["body_html"])
    # A reply's headings never break a page's heading order: bold paragraphs.
    assert html.find(["h1", "h2", "h3", "h4", "h5", "h6"]) is None
    assert [strong.get_text() for strong in html.select("p > strong")[:2]] == ["Big", "Small"]
    # A code block that scrolls can be reached by keyboard.
    assert html.select_one("pre")["tabindex"] == "0"
    assert [li.get_text() for li in html.select("ul li")] == ["one", "two"]
    assert html.select_one("code").get_text() == "code"
    assert html.select("strong")[-1].get_text() == "bold"
    assert html.select_one("p br") is not None


# Listing through the API


async def test_top_level_replies_are_newest_first_and_paginated(
    member: Member, fresh_article: Article
) -> None:
    ids = [await post(member, f"Top {n}", slug=fresh_article.slug) for n in range(5)]
    first = await listing(member.client, fresh_article.slug, limit=2)
    assert [reply["id"] for reply in first["replies"]] == [ids[4], ids[3]]
    assert first["next_cursor"] == str(ids[3])
    assert await every_page(member.client, fresh_article.slug, limit=2) == ids[::-1]
    assert await every_page(member.client, fresh_article.slug, limit=2, order="oldest") == ids
    whole = await listing(member.client, fresh_article.slug)
    assert [reply["id"] for reply in whole["replies"]] == ids[::-1]
    assert whole["next_cursor"] is None


async def test_children_are_oldest_first_and_paginated(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    parent = await post(member, "Parent", slug=slug)
    children = [await post(other_member, f"Child {n}", parent, slug=slug) for n in range(3)]
    await post(member, "Grandchild", children[0], slug=slug)
    top = await listing(member.client, slug)
    assert [(reply["id"], reply["reply_count"]) for reply in top["replies"]] == [(parent, 3)]
    level = await listing(member.client, slug, parent=parent)
    assert [reply["id"] for reply in level["replies"]] == children
    assert [reply["reply_count"] for reply in level["replies"]] == [1, 0, 0]
    assert await every_page(member.client, slug, parent=parent, limit=2) == children
    assert await every_page(member.client, slug, parent=parent, limit=1, order="newest") == children


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [({"limit": "0"}, 422, "limit"), ({"limit": "101"}, 422, "limit"),
     ({"limit": "-1"}, 422, "limit"), ({"limit": "ten"}, 422, "limit"),
     ({"limit": "1"}, 200, None), ({"limit": "100"}, 200, None),
     ({"order": "sideways"}, 422, "order"), ({"cursor": "abc"}, 422, "cursor"),
     ({"parent": "abc"}, 422, "parent"), ({"parent": "2147483000"}, 404, None),
     ({"parent": "2147483648"}, 422, "parent"), ({"parent": "²"}, 422, "parent"),
     ({"limit": "²"}, 422, "limit"), ({"cursor": "²"}, 422, "cursor"),
     ({"cursor": "9223372036854775808"}, 422, "cursor")],
)  # fmt: skip
async def test_listing_checks_its_parameters(
    anon: httpx.AsyncClient, params: dict[str, str], status: int, field: str | None
) -> None:
    response = await anon.get(f"/api/articles/{SLUG}/replies", params=params)
    assert response.status_code == status, response.text
    if field is not None:
        assert list(response.json()["errors"]) == [field]
    if status == 200:
        assert len(response.json()["replies"]) <= int(params["limit"])


async def test_listing_children_of_a_reply_in_another_article_is_404(
    anon: httpx.AsyncClient, member: Member, fresh_article: Article
) -> None:
    elsewhere = await post(member, "Elsewhere", slug=fresh_article.slug)
    response = await anon.get(f"/api/articles/{SLUG}/replies", params={"parent": elsewhere})
    assert response.status_code == 404
    assert (await anon.get("/api/articles/no-such-article/replies")).status_code == 404


# Editing through the API


async def patch(member: Member, reply_id: int, body: object, **headers: str) -> httpx.Response:
    """PATCH /api/replies/{id} as member."""
    return await member.client.patch(
        f"/api/replies/{reply_id}", json={"body": body}, headers=headers or member.headers()
    )


async def test_editing_ones_own_reply(member: Member, db: None) -> None:
    reply_id = await post(member, "First draft")
    response = await patch(member, reply_id, "Second *draft*")
    assert response.status_code == 200
    edited = response.json()
    assert set(edited) == REPLY_FIELDS
    assert (edited["id"], edited["author"], edited["deleted"]) == (reply_id, member.username, False)
    assert parse(edited["body_html"]).select_one("em").get_text() == "draft"
    assert edited["edited_at"] is not None
    assert datetime.fromisoformat(edited["edited_at"]) >= datetime.fromisoformat(
        edited["created_at"]
    )
    row = await Reply.get(id=reply_id)
    assert row.source == "Second *draft*"
    assert row.edited_at is not None
    assert (await get_reply(member.client, reply_id)).json() == edited


async def test_editing_someone_elses_reply_is_403(
    member: Member, other_member: Member, anon: httpx.AsyncClient, db: None
) -> None:
    reply_id = await post(member, "Mine")
    assert (await patch(other_member, reply_id, "Theirs now")).status_code == 403
    assert (await patch(member, reply_id, "No token", **{"X-CSRF-Token": "x"})).status_code == 403
    signed_out = await anon.patch(f"/api/replies/{reply_id}", json={"body": "Anyone's"})
    assert signed_out.status_code == 401
    assert (await patch(member, 2**31 - 1, "Nothing")).status_code == 404
    row = await Reply.get(id=reply_id)
    assert (row.source, row.edited_at) == ("Mine", None)


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001, None])
async def test_editing_with_a_bad_body_is_422(member: Member, db: None, body: object) -> None:
    reply_id = await post(member, "Keep me")
    response = await patch(member, reply_id, body)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["body"]
    row = await Reply.get(id=reply_id)
    assert (row.source, row.edited_at) == ("Keep me", None)


async def test_editing_closes_after_the_edit_window(member: Member, db: None) -> None:
    reply_id = await post(member, "Fresh")
    now = datetime.now(UTC)
    await Reply.filter(id=reply_id).update(created_at=now - EDIT_WINDOW + timedelta(minutes=1))
    assert (await patch(member, reply_id, "Still in time")).status_code == 200
    await Reply.filter(id=reply_id).update(created_at=now - EDIT_WINDOW - timedelta(minutes=1))
    late = await patch(member, reply_id, "Too late")
    assert late.status_code == 403
    assert list(late.json()["errors"]) == ["detail"]
    assert (await Reply.get(id=reply_id)).source == "Still in time"


# Deleting through the API


async def delete(member: Member, reply_id: int) -> httpx.Response:
    """DELETE /api/replies/{id} as member."""
    return await member.client.delete(f"/api/replies/{reply_id}", headers=member.headers())


async def test_deleting_a_reply_without_replies_removes_it(
    member: Member, fresh_article: Article
) -> None:
    keep = await post(member, "Stays", slug=fresh_article.slug)
    gone = await post(member, "Goes", slug=fresh_article.slug)
    response = await delete(member, gone)
    assert response.status_code == 204
    assert response.content == b""
    assert (await get_reply(member.client, gone)).status_code == 404
    assert await every_page(member.client, fresh_article.slug) == [keep]
    assert not await Reply.filter(id=gone).exists()
    assert (await delete(member, gone)).status_code == 404


async def test_deleting_a_reply_with_replies_leaves_a_stub(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    parent = await post(member, "Parent", slug=slug)
    child = await post(other_member, "Child", parent, slug=slug)
    assert (await delete(member, parent)).status_code == 204
    stub = (await get_reply(other_member.client, parent)).json()
    assert stub["deleted"] is True
    assert stub["author"] is None
    assert stub["body_html"] == ""
    assert stub["reply_count"] == 1
    assert (await listing(member.client, slug))["replies"] == [stub]
    row = await Reply.get(id=parent)
    assert (row.status, row.source, row.html) == (ReplyStatus.DELETED, "", "")
    assert (await patch(member, parent, "Undo?")).status_code == 404
    assert (await delete(member, parent)).status_code == 404
    page = parse((await member.client.get(f"/a/{slug}")).text)
    assert page.select_one(f"#reply-{parent}.is-stub .stub") is not None
    assert page.select_one(f"#reply-{parent} [data-author='{member.username}']") is None

    # Once its last reply goes, the stub has nothing left to hold up and goes too.
    assert (await delete(other_member, child)).status_code == 204
    assert not await Reply.filter(id__in=[parent, child]).exists()
    assert (await listing(member.client, slug))["replies"] == []


async def test_deleting_needs_the_author_and_the_token(
    member: Member, other_member: Member, anon: httpx.AsyncClient, db: None
) -> None:
    reply_id = await post(member, "Mine to delete")
    assert (await delete(other_member, reply_id)).status_code == 403
    assert (await member.client.delete(f"/api/replies/{reply_id}")).status_code == 403
    assert (await anon.delete(f"/api/replies/{reply_id}")).status_code == 401
    assert await Reply.filter(id=reply_id, status=ReplyStatus.VISIBLE).exists()


# The HTML form, with htmx and without


async def test_htmx_post_answers_the_reply_and_a_fresh_form(
    member: Member, fresh_article: Article
) -> None:
    response = await post_form(member, fresh_article.slug, "Posted *with* htmx", htmx=True)
    assert response.status_code == 201
    fragment = parse(response.text)
    assert is_fragment(fragment)
    partial = fragment.select_one("hx-partial")
    assert partial is not None
    assert partial["hx-target"] == "#replies"
    assert partial["hx-swap"] == "afterbegin"
    [reply] = partial.find_all(recursive=False)
    row = await Reply.get(article_id=fresh_article.id)
    assert (reply.name, reply["id"]) == ("article", f"reply-{row.id}")
    assert reply["data-author"] == member.username
    assert reply.select_one(".reply-body em").get_text() == "with"
    form = fragment.select_one("form#reply-form-top")
    assert form is not None and form.find_parent("hx-partial") is None
    assert form.select_one("textarea[name=body]").get_text() == ""
    assert form.select_one("input[name=csrf_token]")["value"]
    assert form.select_one(".field-error") is None


async def test_htmx_post_of_an_answer_goes_under_its_parent(
    member: Member, fresh_article: Article
) -> None:
    parent = await post(member, "Parent", slug=fresh_article.slug)
    response = await post_form(member, fresh_article.slug, "Answer", parent, htmx=True)
    assert response.status_code == 201
    fragment = parse(response.text)
    partial = fragment.select_one("hx-partial")
    assert partial["hx-target"] == f"#children-{parent}"
    [reply] = partial.find_all(recursive=False)
    row = await Reply.get(parent_id=parent)
    assert reply["id"] == f"reply-{row.id}"
    assert fragment.select_one("[role=status]") is not None


@pytest.mark.parametrize("body", ["   ", "y" * 10_001])
async def test_htmx_post_errors_keep_the_text_beside_the_message(
    member: Member, fresh_article: Article, body: str
) -> None:
    before = await reply_rows()
    response = await post_form(member, fresh_article.slug, body, htmx=True)
    assert response.status_code == 422
    fragment = parse(response.text)
    assert is_fragment(fragment)
    form = fragment.select_one("form.reply-form")
    textarea = form.select_one("textarea[name=body]")
    assert textarea.get_text() == body
    error = form.select_one(".field-error")
    assert error is not None and error.get_text(strip=True)
    assert textarea["aria-describedby"] == error["id"]
    assert fragment.select_one("hx-partial") is None
    assert await reply_rows() == before


async def test_plain_post_returns_to_the_thread_at_the_new_reply(
    member: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    response = await post_form(member, slug, "Without JavaScript")
    assert response.status_code == 303
    row = await Reply.get(article_id=fresh_article.id)
    assert response.headers["location"] == f"/a/{slug}#reply-{row.id}"
    assert row.source == "Without JavaScript"
    page = parse((await member.client.get(response.headers["location"])).text)
    assert page.select_one(f"#replies #reply-{row.id} .reply-body").get_text(strip=True) == (
        "Without JavaScript"
    )


async def test_plain_post_under_a_reply_past_the_first_page_lands_on_its_thread(
    member: Member, fresh_article: Article
) -> None:
    """Newest first, the first page holds the 20 newest top-level replies (PAGE_SIZE): an
    answer to an older one lands on the permalink of its top-level reply, at the answer."""
    slug = fresh_article.slug
    oldest = (await member.post_reply("The oldest", slug=slug)).json()["id"]
    for number in range(20):
        assert (await member.post_reply(f"Newer {number}", slug=slug)).status_code == 201
    response = await post_form(member, slug, "Late answer", parent_id=oldest)
    answer = await Reply.get(source="Late answer", article_id=fresh_article.id)
    assert response.headers["location"] == f"/a/{slug}/r/{oldest}#reply-{answer.id}"
    page = parse((await member.client.get(response.headers["location"])).text)
    assert page.select_one(f"#children-{oldest} #reply-{answer.id}") is not None

    # Oldest first, that reply is on the first page: back to the article, in that order.
    fields = {
        "body": "Answer in order",
        "parent_id": str(oldest),
        "order": "oldest",
        "csrf_token": await form_token(member.client, f"/a/{slug}"),
    }
    in_order = await member.client.post(f"/a/{slug}/replies", data=fields)
    answer = await Reply.get(source="Answer in order", article_id=fresh_article.id)
    assert in_order.headers["location"] == f"/a/{slug}?order=oldest#reply-{answer.id}"


async def test_plain_post_errors_show_the_whole_page_again(
    member: Member, fresh_article: Article
) -> None:
    before = await reply_rows()
    response = await post_form(member, fresh_article.slug, "z" * 10_001)
    assert response.status_code == 422
    page = parse(response.text)
    assert not is_fragment(page)
    assert page.select_one("article.article h1").get_text() == fresh_article.title
    form = page.select_one("form#reply-form-top")
    assert form.select_one("textarea[name=body]").get_text() == "z" * 10_001
    assert form.select_one("textarea + .field-error") is not None
    assert await reply_rows() == before


async def test_plain_post_errors_on_an_answer_show_the_permalink_page(
    member: Member, fresh_article: Article
) -> None:
    parent = await post(member, "Parent", slug=fresh_article.slug)
    response = await post_form(member, fresh_article.slug, " ", parent)
    assert response.status_code == 422
    page = parse(response.text)
    assert page.select_one(f".focus #reply-{parent}") is not None
    form = page.select_one(f"form#reply-form-{parent}")
    assert form.select_one("input[name=parent_id]")["value"] == str(parent)
    assert form.select_one(".field-error") is not None
    assert not await Reply.filter(parent_id=parent).exists()


async def test_the_form_needs_its_csrf_token(member: Member, fresh_article: Article) -> None:
    path = f"/a/{fresh_article.slug}/replies"
    refused = await member.client.post(path, data={"body": "Forged"})
    assert refused.status_code == 403
    assert parse(refused.text).select_one(".error-message") is not None
    # To htmx, never a page to swap into the form's place: a message it leaves unswapped
    # (forum.js shows it beside the form).
    refused = await member.client.post(path, data={"body": "Forged"}, headers=HTMX)
    assert refused.status_code == 403
    assert refused.headers["hx-reswap"] == "none"
    assert parse(refused.text).select_one("h1, header") is None
    assert "form has expired" in parse(refused.text).select_one(".alert-message").get_text()
    assert not await Reply.filter(article_id=fresh_article.id).exists()
    by_header = await member.client.post(
        path, data={"body": "Token in a header"}, headers=member.headers()
    )
    assert by_header.status_code == 303
    assert await Reply.filter(article_id=fresh_article.id).count() == 1


async def test_the_form_signed_out_sends_the_reader_to_sign_in(
    anon: httpx.AsyncClient, server: LiveServer, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    page = parse((await anon.get(f"/a/{slug}")).text)
    assert page.select_one("form.reply-form") is None
    # Back at the form after signing in (forum.js restores what was typed there).
    assert login_next(page.select_one(".sign-in-prompt a")["href"]) == f"/a/{slug}#reply-form-top"
    plain = await anon.post(f"/a/{slug}/replies", data={"body": "Hi"})
    assert plain.status_code == 303
    assert login_next(plain.headers["location"]) == f"/a/{slug}/replies"
    came_from = {**HTMX, "HX-Current-URL": f"{server.url}/a/{slug}?order=oldest"}
    htmx = await anon.post(f"/a/{slug}/replies", data={"body": "Hi"}, headers=came_from)
    assert htmx.status_code == 401
    assert login_next(htmx.headers["hx-redirect"]) == f"/a/{slug}"
    assert not await Reply.filter(article_id=fresh_article.id).exists()


# Reading the thread as HTML


async def test_permalink_shows_the_reply_with_its_ancestors(
    member: Member, other_member: Member, anon: httpx.AsyncClient, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    root = await post(member, "Root", slug=slug)
    child = await post(other_member, "Child", root, slug=slug)
    grandchild = await post(member, "Grandchild", child, slug=slug)
    sibling = await post(member, "Sibling", root, slug=slug)
    response = await anon.get(f"/a/{slug}/r/{grandchild}")
    assert response.status_code == 200
    page = parse(response.text)
    assert reply_ids(page.select("ol.context > li.context-reply")) == [root, child]
    assert [
        li.select_one(".reply-body").get_text(strip=True) for li in page.select(".context li")
    ] == [
        "Root",
        "Child",
    ]
    focus = page.select_one(".replies.focus")
    assert reply_ids(focus.select("article.reply")) == [grandchild]
    assert focus.select_one(".reply-body").get_text(strip=True) == "Grandchild"
    assert page.select_one(f"#reply-{sibling}") is None
    # One heading names the page; times are whole seconds (a checker refuses microseconds).
    [heading] = page.select("h1")
    assert heading.get_text() == f"Reply by {member.username} in “{fresh_article.title}”"
    for time in page.select("time[datetime]"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", time["datetime"])
    top = parse((await anon.get(f"/a/{slug}/r/{root}")).text)
    assert top.select_one("ol.context") is None
    assert reply_ids(top.select(".focus article.reply")) == [root, child, grandchild, sibling]


def context_ids(page: BeautifulSoup) -> list[int]:
    """The replies a permalink shows above its own."""
    return reply_ids(page.select("ol.context > li.context-reply"))


async def test_a_deep_permalink_shows_the_nearest_ancestors_and_links_to_the_earlier(
    member: Member, anon: httpx.AsyncClient, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    chain: list[int] = []
    for level in range(12):
        chain.append(await post(member, f"Level {level}", chain[-1] if chain else None, slug))
    page = parse((await anon.get(f"/a/{slug}/r/{chain[11]}")).text)
    assert context_ids(page) == chain[3:11], "the nearest 8"
    earlier = page.select_one(".earlier-replies a")
    assert earlier is not None and earlier.get_text(strip=True) == "3 earlier replies"
    assert earlier["href"] == f"/a/{slug}/r/{chain[2]}#reply-{chain[2]}"
    # The link opens the chain where the page's ancestors start, with the rest above it.
    above = parse((await anon.get(str(earlier["href"]))).text)
    assert context_ids(above) == chain[:2]
    assert above.select_one(".earlier-replies") is None
    one_more = parse((await anon.get(f"/a/{slug}/r/{chain[9]}")).text)
    assert context_ids(one_more) == chain[1:9]
    link = one_more.select_one(".earlier-replies a")
    assert link is not None and link.get_text(strip=True) == "1 earlier reply"
    assert link["href"] == f"/a/{slug}/r/{chain[0]}#reply-{chain[0]}"


@pytest.fixture(scope="module")
def shallow(
    server: LiveServer, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server where replies nest at most three levels deep, over the session's database."""
    process, live = start_server(
        database_url, tmp_path_factory.mktemp("shallow"), MAX_REPLY_DEPTH="3"
    )
    yield live
    stop_server(process)


TOO_DEEP = "Replies nest at most 3 levels deep: answer a reply further up this chain."


async def test_replies_nest_at_most_max_reply_depth_levels(
    shallow: LiveServer, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    author = await enrol(shallow, "nester")
    try:
        first = await post(author, "Level 1", slug=slug)
        second = await post(author, "Level 2", first, slug)
        third = await post(author, "Level 3", second, slug)
        assert (await Reply.get(id=third)).depth == 2

        refused = await author.post_reply("Level 4", third, slug)
        assert refused.status_code == 422
        assert refused.json() == {"errors": {"parent_id": TOO_DEEP}}

        form = await post_form(author, slug, "Level 4 by form", third)
        assert form.status_code == 422
        reply_form = parse(form.text).select_one(f"form#reply-form-{third}")
        assert reply_form is not None
        assert reply_form.select_one("textarea[name=body]").get_text() == "Level 4 by form"
        error = reply_form.select_one(".field-error")
        assert error is not None and error.get_text(strip=True) == TOO_DEEP
        assert not await Reply.filter(parent_id=third).exists()

        # Higher up the chain is still open.
        assert (await author.post_reply("Level 3, again", second, slug)).status_code == 201
    finally:
        await author.client.aclose()


async def test_permalink_of_a_reply_under_another_article_is_404(
    anon: httpx.AsyncClient, member: Member, fresh_article: Article
) -> None:
    elsewhere = await post(member, "Elsewhere", slug=fresh_article.slug)
    response = await anon.get(f"/a/{SLUG}/r/{elsewhere}")
    assert response.status_code == 404
    assert parse(response.text).select_one(".error-message") is not None


async def test_load_more_works_as_a_link_and_as_a_fragment(
    member: Member, anon: httpx.AsyncClient, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    ids = [await post(member, f"Reply {n}", slug=slug) for n in range(22)]
    page = parse((await anon.get(f"/a/{slug}")).text)
    first = reply_ids(page.select("#replies > article.reply"))
    assert first == ids[::-1][:20]
    more = page.select_one("#replies > a.load-more")
    assert more["hx-get"] == f"/a/{slug}?order=newest&cursor={first[-1]}"
    assert more["href"] == more["hx-get"] + "#replies"

    plain = parse((await anon.get(more["href"])).text)
    assert not is_fragment(plain)
    assert reply_ids(plain.select("#replies > article.reply")) == ids[1::-1]
    assert plain.select_one("a.load-more") is None

    fragment = parse((await anon.get(more["hx-get"], headers=HTMX)).text)
    assert is_fragment(fragment)
    assert reply_ids(fragment.find_all("article", recursive=False)) == ids[1::-1]
    assert fragment.select_one("a.load-more") is None

    oldest = parse((await anon.get(f"/a/{slug}", params={"order": "oldest"})).text)
    assert reply_ids(oldest.select("#replies > article.reply")) == ids[:20]
    assert oldest.select_one("a.load-more")["hx-get"] == f"/a/{slug}?order=oldest&cursor={ids[19]}"


async def test_show_more_replies_works_as_a_link_and_as_a_fragment(
    member: Member, anon: httpx.AsyncClient, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    parent = await post(member, "Parent", slug=slug)
    children = [await post(member, f"Child {n}", parent, slug=slug) for n in range(5)]
    page = parse((await anon.get(f"/a/{slug}")).text)
    box = page.select_one(f"#children-{parent}")
    assert reply_ids(box.find_all("article", recursive=False)) == children[:3]
    more = box.select_one(":scope > a.more-replies")
    assert " ".join(more.get_text().split()) == "Show 2 more replies"
    assert more["href"] == f"/a/{slug}/r/{parent}?after={children[2]}#children-{parent}"

    plain = parse((await anon.get(more["href"])).text)
    assert not is_fragment(plain)
    shown = plain.select_one(f".focus #children-{parent}")
    assert reply_ids(shown.find_all("article", recursive=False)) == children[3:]

    fragment = parse((await anon.get(more["hx-get"], headers=HTMX)).text)
    assert is_fragment(fragment)
    assert reply_ids(fragment.find_all("article", recursive=False)) == children[3:]
    assert fragment.select_one("a.more-replies") is None


async def test_continue_this_thread_works_as_a_link_and_as_a_fragment(
    member: Member, anon: httpx.AsyncClient, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    chain = [await post(member, "Level 0", slug=slug)]
    for level in range(1, 5):
        chain.append(await post(member, f"Level {level}", chain[-1], slug=slug))
    page = parse((await anon.get(f"/a/{slug}")).text)
    assert reply_ids(page.select("#replies article.reply")) == chain[:3]
    edge = page.select_one(f"#children-{chain[2]} > a.more-replies")
    # Every reply below it counts (levels 3 and 4), not only the direct one (tests/test_reading.py).
    assert " ".join(edge.get_text().split()).startswith("Continue this thread (2 replies)")

    plain = parse((await anon.get(edge["href"])).text)
    assert reply_ids(plain.select(".context > li")) == chain[:2]
    assert reply_ids(plain.select(".focus article.reply")) == chain[2:]

    fragment = parse((await anon.get(edge["hx-get"], headers=HTMX)).text)
    assert is_fragment(fragment)
    assert reply_ids(fragment.find_all("article", recursive=False)) == [chain[3]]
    assert reply_ids(fragment.select("article.reply")) == chain[3:]


# Not found


@pytest.mark.parametrize(
    "path", ["/nowhere", "/a/no-such-article", f"/a/{SLUG}/r/2147483000", "/u/no-such-member"]
)
async def test_not_found_outside_the_api_is_a_friendly_page(
    anon: httpx.AsyncClient, path: str
) -> None:
    response = await anon.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    page = parse(response.text)
    assert page.select_one("h1.page-title").get_text() == "Not found"
    assert page.select_one(".error-message").get_text(strip=True)
    assert page.select_one("a[href='/']") is not None


@pytest.mark.parametrize(
    "path",
    ["/api/nowhere", "/api/articles/no-such-article", "/api/articles/no-such-article/replies",
     "/api/replies/2147483000"],
)  # fmt: skip
async def test_not_found_under_the_api_is_json(anon: httpx.AsyncClient, path: str) -> None:
    response = await anon.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["errors"]
    assert list(errors) == ["detail"] and errors["detail"]
