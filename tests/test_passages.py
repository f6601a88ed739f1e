"""Replies about a passage of the article: stable anchors, quotes checked against the passage,
the quote shown (as text) above the reply, counts beside each passage that exclude hidden
replies and change live, the API's filter and the composer without JavaScript."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup

from forum.articles.passages import article_passages
from forum.markdown import render_article
from models import Article, Reply, Role
from tests.conftest import (
    SLUG,
    LiveServer,
    Member,
    own_postgres_database,
    sign_up,
    start_server,
    stop_server,
    unique_name,
)
from tests.test_live import connect, next_event, own_server, partials, resume
from tests.test_moderation import api, enrol, hide

BODY = """\
The first paragraph says   something *quite* specific about `code`.

## A heading

- An item of a list
- An item of a list

The last paragraph.
"""
HTMX = {"HX-Request": "true"}


@pytest_asyncio.fixture
async def article(db: None) -> AsyncIterator[Article]:
    """An article of several passages (two of the same text), deleted after the test."""
    slug = unique_name("passages").replace("_", "-")
    made = await Article.create(
        slug=slug, title=f"Passages {slug}", body_markdown=BODY, body_html=render_article(BODY)
    )
    yield made
    await made.delete()


@pytest_asyncio.fixture
async def writer(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """A member made straight in the database."""
    member = await enrol(server, "writer")
    yield member
    await member.client.aclose()


def anchors(article: Article) -> dict[str, str]:
    """Each passage's text by its anchor."""
    return {passage.anchor: passage.text for passage in article_passages(article).passages}


def page(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


async def about(
    member: Member, slug: str, passage: object, quote: object, body: str = "On this."
) -> httpx.Response:
    payload = {"body": body, "passage": passage, "quote": quote}
    return await member.client.post(
        f"/api/articles/{slug}/replies", json=payload, headers=member.headers()
    )


def first_anchor(article: Article) -> str:
    return next(iter(anchors(article)))


# Anchors ------------------------------------------------------------------------------------


def test_every_paragraph_heading_and_list_item_has_an_anchor(article: Article) -> None:
    found = anchors(article)
    assert list(found.values()) == [
        "The first paragraph says something quite specific about code.",
        "A heading",
        "An item of a list",
        "An item of a list",
        "The last paragraph.",
    ]
    items = [anchor for anchor, text in found.items() if text == "An item of a list"]
    assert items[1] == items[0] + "-2"  # the same text twice still gives two anchors


def ids_on_page(html: str) -> list[str]:
    body = page(html).select_one(".article-body")
    assert body is not None
    return [str(element["id"]) for element in body.select("p[id], li[id], h2[id]")]


def test_anchors_stay_the_same_across_two_starts(tmp_path: Path) -> None:
    seen = []
    for _ in range(2):
        with own_server(tmp_path) as live:
            seen.append(ids_on_page(httpx.get(f"{live.url}/a/{SLUG}", timeout=10).text))
    assert seen[0] == seen[1]
    assert len(seen[0]) > 10
    assert all(anchor.startswith("p-") for anchor in seen[0])


async def test_the_article_page_marks_each_passage_with_its_tools(
    article: Article, anon: httpx.AsyncClient
) -> None:
    html = (await anon.get(f"/a/{article.slug}")).text
    assert ids_on_page(html) == list(anchors(article))
    soup = page(html)
    for anchor in anchors(article):
        element = soup.select_one(f'.passage-tools[data-passage="{anchor}"]')
        assert element is not None
        discuss = element.select_one(".discuss-link")
        assert discuss is not None
        assert discuss["href"] == f"/a/{article.slug}/discuss?passage={anchor}"
        count = element.select_one(f"#passage-count-{anchor}")
        assert count is not None and count.has_attr("hidden")  # none yet


# Posting about a passage --------------------------------------------------------------------


async def test_a_reply_about_a_passage_shows_its_quote(
    article: Article, writer: Member, anon: httpx.AsyncClient
) -> None:
    anchor = first_anchor(article)
    # Whitespace may differ from the passage's (a browser's selection has its own).
    response = await about(writer, article.slug, anchor, "says\n  something quite")
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["passage"] == anchor
    assert made["quote"] == "says something quite"
    stored = await Reply.get(id=made["id"])
    assert (stored.passage, stored.quote) == (anchor, "says something quite")

    soup = page((await anon.get(f"/a/{article.slug}")).text)
    shown = soup.select_one(f"#reply-{made['id']} .passage-quote")
    assert shown is not None
    assert shown.select_one("blockquote").get_text() == "says something quite"
    assert shown.select_one("a")["href"] == f"/a/{article.slug}#{anchor}"
    count = soup.select_one(f"#passage-count-{anchor}")
    assert not count.has_attr("hidden") and count["data-count"] == "1"
    assert count["href"] == f"/a/{article.slug}?passage={anchor}#replies"


async def test_a_forged_quote_or_an_unknown_anchor_is_refused(
    article: Article, writer: Member
) -> None:
    anchor = first_anchor(article)
    forged = await about(writer, article.slug, anchor, "something the article never said")
    assert forged.status_code == 422, forged.text
    assert set(forged.json()["errors"]) == {"quote"}
    # Words of another passage are no words of this one.
    elsewhere = await about(writer, article.slug, anchor, "The last paragraph.")
    assert set(elsewhere.json()["errors"]) == {"quote"}
    for unknown in ("p-00000000", "nothing", "p-" + "a" * 38):
        refused = await about(writer, article.slug, unknown, "The last paragraph.")
        assert refused.status_code == 422, refused.text
        assert set(refused.json()["errors"]) == {"passage"}
    # A quote needs its passage, and a passage its quote.
    assert (await about(writer, article.slug, None, "The")).status_code == 422
    assert (await about(writer, article.slug, anchor, "  ")).status_code == 422
    assert not await Reply.filter(article_id=article.id).exists()


async def test_a_reply_to_a_reply_is_not_about_a_passage(article: Article, writer: Member) -> None:
    anchor = first_anchor(article)
    parent = await about(writer, article.slug, anchor, "The first")
    payload = {"body": "Nested", "parent_id": parent.json()["id"], "passage": anchor}
    payload["quote"] = "The first"
    refused = await writer.client.post(
        f"/api/articles/{article.slug}/replies", json=payload, headers=writer.headers()
    )
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"passage"}


async def test_markup_in_a_quote_stays_text(db: None, server: LiveServer, writer: Member) -> None:
    body = "Beware <script>alert(1)</script> and <img src=x onerror=alert(2)> here.\n"
    slug = unique_name("xss").replace("_", "-")
    made = await Article.create(
        slug=slug, title="XSS", body_markdown=body, body_html=render_article(body)
    )
    try:
        anchor = first_anchor(made)
        quote = "<script>alert(1)</script> and <img src=x onerror=alert(2)>"
        response = await about(writer, slug, anchor, quote)
        assert response.status_code == 201, response.text
        html = (await writer.client.get(f"/a/{slug}")).text
        shown = page(html).select_one(f"#reply-{response.json()['id']} .passage-quote blockquote")
        assert shown is not None
        assert shown.get_text() == quote
        assert shown.find("script") is None and shown.find("img") is None
        assert "<script>alert(1)" not in html
    finally:
        await made.delete()


async def test_the_form_post_keeps_the_text_and_shows_the_refusal(
    article: Article, writer: Member
) -> None:
    anchor = first_anchor(article)
    form = {"csrf_token": writer.csrf, "body": "My words", "passage": anchor, "quote": "Forged"}
    refused = await writer.client.post(f"/a/{article.slug}/replies", data=form, headers=HTMX)
    assert refused.status_code == 422
    soup = page(refused.text)
    assert soup.select_one("textarea[name=body]").get_text() == "My words"
    assert soup.select_one("input[name=quote]")["value"] == "Forged"
    assert soup.select_one("[role=alert]") is not None
    # Without htmx: the composer of that passage again.
    plain = await writer.client.post(f"/a/{article.slug}/replies", data=form)
    assert plain.status_code == 422
    soup = page(plain.text)
    assert soup.select_one("#passage-shown").get_text() == anchors(article)[anchor]
    assert soup.select_one("textarea[name=body]").get_text() == "My words"

    form["quote"] = "first paragraph"
    posted = await writer.client.post(f"/a/{article.slug}/replies", data=form)
    assert posted.status_code == 303
    assert await Reply.filter(article_id=article.id, passage=anchor).count() == 1


async def test_the_discuss_link_opens_a_composer_without_javascript(
    article: Article, writer: Member, anon: httpx.AsyncClient
) -> None:
    anchor = list(anchors(article))[-1]
    composer = page((await writer.client.get(f"/a/{article.slug}/discuss?passage={anchor}")).text)
    assert composer.select_one("#passage-shown").get_text() == "The last paragraph."
    form = composer.select_one("form.reply-form")
    assert form["action"] == f"/a/{article.slug}/replies"
    assert form.select_one("input[name=passage]")["value"] == anchor
    assert form.select_one("input[name=quote]")["value"] == "The last paragraph."
    # A selection handed over (by quote.js, for a signed-out reader) when it is the passage's.
    asked = await writer.client.get(f"/a/{article.slug}/discuss?passage={anchor}&quote=last")
    assert page(asked.text).select_one("input[name=quote]")["value"] == "last"
    signed_out = await anon.get(f"/a/{article.slug}/discuss?passage={anchor}")
    assert "Sign in" in page(signed_out.text).select_one(".sign-in-prompt").get_text()
    unknown = await anon.get(f"/a/{article.slug}/discuss?passage=p-12345678")
    assert unknown.status_code == 400


# Counts and the filter ----------------------------------------------------------------------


async def test_counts_leave_out_hidden_replies_and_the_api_filters(
    article: Article, writer: Member, server: LiveServer, anon: httpx.AsyncClient
) -> None:
    every = list(anchors(article))
    first, last = every[0], every[-1]
    ids = []
    for n in range(3):
        response = await about(writer, article.slug, first, "The first", f"Reply {n}")
        ids.append(response.json()["id"])
    other = (await about(writer, article.slug, last, "paragraph", "Elsewhere")).json()["id"]
    await writer.post_reply("About nothing in particular", slug=article.slug)
    moderator = await enrol(server, "mod", role=Role.MODERATOR)
    try:
        await hide(moderator, ids[1])
    finally:
        await moderator.client.aclose()

    soup = page((await anon.get(f"/a/{article.slug}")).text)
    assert soup.select_one(f"#passage-count-{first}")["data-count"] == "2"
    assert soup.select_one(f"#passage-count-{last}")["data-count"] == "1"

    listed = await anon.get(f"/api/articles/{article.slug}/replies?passage={first}")
    assert listed.status_code == 200, listed.text
    assert [reply["id"] for reply in listed.json()["replies"]] == [ids[2], ids[0]]
    assert {reply["passage"] for reply in listed.json()["replies"]} == {first}
    listed = await anon.get(f"/api/articles/{article.slug}/replies?passage={last}")
    assert [reply["id"] for reply in listed.json()["replies"]] == [other]
    unknown = await anon.get(f"/api/articles/{article.slug}/replies?passage=p-12345678")
    assert unknown.status_code == 422
    assert set(unknown.json()["errors"]) == {"passage"}

    # The page's count link lists those replies.
    soup = page((await anon.get(f"/a/{article.slug}?passage={first}")).text)
    shown = [
        int(str(node["id"]).removeprefix("reply-")) for node in soup.select("#replies > .reply")
    ]
    assert shown == [ids[2], ids[0]]
    assert soup.select_one("#passage-filter a")["href"] == f"#{first}"


async def test_counts_change_live(article: Article, writer: Member, server: LiveServer) -> None:
    anchor = first_anchor(article)
    moderator = await enrol(server, "mod", role=Role.MODERATOR)
    target = f"#passage-count-{anchor}"
    try:
        async with connect(server, article.slug) as ws:
            reply_id = (await about(writer, article.slug, anchor, "first")).json()["id"]
            frame = await next_event(ws)
            assert frame["type"] == "reply.posted"
            count = partials(frame)[target].select_one("a")
            assert count["data-count"] == "1" and not count.has_attr("hidden")

            await hide(moderator, reply_id)
            frame = await next_event(ws)
            assert frame["type"] == "reply.hidden"
            assert partials(frame)[target].select_one("a")["data-count"] == "0"

            unhidden = await api(moderator, f"/api/replies/{reply_id}/unhide")
            assert unhidden.status_code == 200, unhidden.text
            frame = await next_event(ws)
            assert partials(frame)[target].select_one("a")["data-count"] == "1"

            deleted = await writer.client.delete(
                f"/api/replies/{reply_id}", headers=writer.headers()
            )
            assert deleted.status_code == 204
            frame = await next_event(ws)
            assert frame["type"] == "reply.deleted"
            assert partials(frame)[target].select_one("a")["data-count"] == "0"
            assert [key for key in partials(frame) if key.startswith("#passage-count-")] == [target]
            deleted_seq = frame["seq"]

            # A reply about no passage changes no passage's count.
            await writer.post_reply("Plain", slug=article.slug)
            frame = await next_event(ws)
            assert not [key for key in partials(frame) if key.startswith("#passage-count-")]

        # A page that missed the deletion gets it replayed: the stream does not keep which
        # passage the reply was about, so every passage's count comes again.
        async with connect(server, article.slug) as ws:
            await resume(ws, deleted_seq - 1)
            frame = await next_event(ws)
            assert frame["type"] == "reply.deleted"
            counts = {key for key in partials(frame) if key.startswith("#passage-count-")}
            assert counts == {f"#passage-count-{anchor}" for anchor in anchors(article)}
    finally:
        await moderator.client.aclose()


def test_the_checks_and_counts_on_postgresql(tmp_path: Path) -> None:
    """The same rules on a PostgreSQL database of the test's own (skipped without one)."""
    with own_postgres_database("passages") as database:
        process, live = start_server(database, tmp_path)
        try:
            asyncio.run(_checks_and_counts(live))
        finally:
            stop_server(process)


async def _checks_and_counts(live: LiveServer) -> None:
    member = await sign_up(live)
    try:
        html = (await member.client.get(f"/a/{SLUG}")).text
        anchor = ids_on_page(html)[0]
        text = page(html).select_one(f"#{anchor}").get_text()
        quote = " ".join(text.split()[2:6])
        forged = await about(member, SLUG, anchor, "words nobody wrote")
        assert forged.status_code == 422 and set(forged.json()["errors"]) == {"quote"}
        unknown = await about(member, SLUG, "p-00000000", quote)
        assert unknown.status_code == 422 and set(unknown.json()["errors"]) == {"passage"}
        made = await about(member, SLUG, anchor, quote)
        assert made.status_code == 201, made.text
        await member.post_reply("Not about a passage")
        listed = await member.client.get(f"/api/articles/{SLUG}/replies?passage={anchor}")
        assert [reply["id"] for reply in listed.json()["replies"]] == [made.json()["id"]]
        soup = page((await member.client.get(f"/a/{SLUG}")).text)
        assert soup.select_one(f"#passage-count-{anchor}")["data-count"] == "1"
    finally:
        await member.client.aclose()
