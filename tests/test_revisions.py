"""Edit history: each edit keeps the text it replaces; "edited" opens the earlier versions of a
reply to whoever may read it (hidden ones: their author and moderators only); deleting a reply
deletes its earlier texts too, and an account's export carries them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from models import Article, ReplyRevision, Role
from tests.conftest import LiveServer, Member
from tests.test_moderation import enrol, hide, parse
from tests.test_votes import reply_to

HTMX = {"HX-Request": "true"}


@pytest_asyncio.fixture
async def author(server: LiveServer, db: None) -> AsyncIterator[Member]:
    member = await enrol(server, "writer")
    yield member
    await member.client.aclose()


@pytest_asyncio.fixture
async def moderator(server: LiveServer, db: None) -> AsyncIterator[Member]:
    member = await enrol(server, "mod", role=Role.MODERATOR)
    yield member
    await member.client.aclose()


async def edit(member: Member, reply_id: int, body: str) -> None:
    response = await member.client.patch(
        f"/api/replies/{reply_id}", json={"body": body}, headers=member.headers()
    )
    assert response.status_code == 200, response.text


async def edited_twice(member: Member, slug: str) -> int:
    reply_id = await reply_to(member, slug, "First **draft**")
    await edit(member, reply_id, "Second draft")
    await edit(member, reply_id, "Final text")
    return reply_id


async def test_the_api_lists_every_version_oldest_first(
    server: LiveServer, fresh_article: Article, author: Member
) -> None:
    reply_id = await edited_twice(author, fresh_article.slug)
    async with httpx.AsyncClient(base_url=server.url) as anon:
        answer = await anon.get(f"/api/replies/{reply_id}/revisions")
        never_edited = await reply_to(author, fresh_article.slug, "As posted")
        alone = (await anon.get(f"/api/replies/{never_edited}/revisions")).json()
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["reply_id"] == reply_id
    versions = listed["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["body"] for v in versions] == ["First **draft**", "Second draft", "Final text"]
    assert "<strong>draft</strong>" in versions[0]["body_html"]
    assert [v["current"] for v in versions] == [False, False, True]
    moments = [v["edited_at"] for v in versions]
    assert moments == sorted(moments)
    assert [v["body"] for v in alone["versions"]] == ["As posted"]


async def test_edited_opens_the_versions_in_the_page_and_with_htmx(
    fresh_article: Article, author: Member
) -> None:
    slug = fresh_article.slug
    reply_id = await edited_twice(author, slug)
    page = parse((await author.client.get(f"/a/{slug}")).text)
    link = page.select_one(f"#reply-{reply_id}-main a.edited")
    assert link is not None
    assert link["href"] == f"/a/{slug}/r/{reply_id}/revisions"
    assert link["hx-target"] == f"#reply-slot-{reply_id}"

    full = await author.client.get(str(link["href"]))
    assert full.status_code == 200
    shown = parse(full.text).select(f"#revisions-{reply_id} .revision .reply-body")
    texts = [body.get_text(" ", strip=True) for body in shown]
    assert texts == ["Final text", "Second draft", "First draft"]

    fragment = await author.client.get(str(link["href"]), headers=HTMX)
    assert fragment.status_code == 200
    soup = parse(fragment.text)
    assert soup.select_one("html") is None
    assert len(soup.select(".revision")) == 3
    assert soup.select_one(".revision.is-current .reply-body").get_text(strip=True) == "Final text"  # type: ignore[union-attr]


async def test_a_hidden_replys_versions_are_for_its_author_and_moderators(
    server: LiveServer, fresh_article: Article, author: Member, moderator: Member
) -> None:
    slug = fresh_article.slug
    reply_id = await reply_to(author, slug, "Secret first words")
    await edit(author, reply_id, "Secret second words")
    await hide(moderator, reply_id)
    reader = await enrol(server, "reader")
    try:
        async with httpx.AsyncClient(base_url=server.url) as anon:
            for client in (anon, reader.client):
                for path in (
                    f"/api/replies/{reply_id}/revisions",
                    f"/a/{slug}/r/{reply_id}/revisions",
                ):
                    refused = await client.get(path)
                    assert refused.status_code == 404, path
                    assert "Secret" not in refused.text
                fragment = await client.get(f"/a/{slug}/r/{reply_id}/revisions", headers=HTMX)
                assert "Secret" not in fragment.text
    finally:
        await reader.client.aclose()
    for member in (author, moderator):
        answer = await member.client.get(f"/api/replies/{reply_id}/revisions")
        assert answer.status_code == 200, answer.text
        bodies = [v["body"] for v in answer.json()["versions"]]
        assert bodies == ["Secret first words", "Secret second words"]
        page = await member.client.get(f"/a/{slug}/r/{reply_id}/revisions")
        assert page.status_code == 200
        assert "Secret first words" in parse(page.text).get_text()


async def test_deleting_a_reply_deletes_its_versions(
    server: LiveServer, fresh_article: Article, author: Member
) -> None:
    slug = fresh_article.slug
    reply_id = await reply_to(author, slug, "Words I take back")
    await edit(author, reply_id, "Words I take back, edited")
    assert (await author.post_reply("An answer keeps a stub", reply_id, slug)).status_code == 201
    assert await ReplyRevision.filter(reply_id=reply_id).count() == 1
    deleted = await author.client.delete(f"/api/replies/{reply_id}", headers=author.headers())
    assert deleted.status_code == 204
    assert await ReplyRevision.filter(reply_id=reply_id).count() == 0
    async with httpx.AsyncClient(base_url=server.url) as anon:
        assert (await anon.get(f"/api/replies/{reply_id}/revisions")).status_code == 404
    assert (await author.client.get(f"/api/replies/{reply_id}/revisions")).status_code == 404


async def test_the_accounts_export_carries_earlier_texts(
    fresh_article: Article, author: Member
) -> None:
    reply_id = await edited_twice(author, fresh_article.slug)
    export = await author.client.get("/api/me/export")
    assert export.status_code == 200, export.text
    [exported] = [r for r in export.json()["replies"] if r["id"] == reply_id]
    assert exported["body"] == "Final text"
    assert [r["body"] for r in exported["revisions"]] == ["First **draft**", "Second draft"]
    assert [r["version"] for r in exported["revisions"]] == [1, 2]
