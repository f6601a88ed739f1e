"""An article page shares well: a description, Open Graph and Twitter tags with absolute
addresses from BASE_URL and the reply count, and its Atom feed advertised."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from bs4 import BeautifulSoup

from tests.conftest import SLUG, LiveServer, Member, forum_command
from tests.test_live import posted


async def head_of(client: httpx.AsyncClient, slug: str) -> dict[str, str]:
    """The page's sharing tags: meta by name or property, and the canonical and feed links."""
    soup = BeautifulSoup((await client.get(f"/a/{slug}")).text, "html.parser")
    assert soup.head is not None
    tags = {
        str(meta.get("name") or meta.get("property")): str(meta["content"])
        for meta in soup.head.select("meta[content]")
    }
    canonical = soup.head.select_one('link[rel="canonical"]')
    feed = soup.head.select_one('link[rel="alternate"][type="application/atom+xml"]')
    assert canonical is not None and feed is not None
    return {**tags, "canonical": str(canonical["href"]), "feed": str(feed["href"])}


async def test_the_article_page_carries_its_card_with_the_reply_count(
    server: LiveServer, anon: httpx.AsyncClient, member: Member
) -> None:
    await posted(member, "A reply, so that the count is not zero.")
    article = (await anon.get(f"/api/articles/{SLUG}")).json()
    count = article["reply_count"]
    tags = await head_of(anon, SLUG)
    url = f"{server.url}/a/{SLUG}"
    description = f"{article['subtitle']} — {count} {'reply' if count == 1 else 'replies'}"
    assert tags["description"] == description
    assert tags["og:description"] == tags["twitter:description"] == description
    assert tags["og:title"] == tags["twitter:title"] == article["title"]
    assert tags["og:type"] == "article"
    assert tags["og:url"] == tags["canonical"] == url
    assert tags["twitter:card"] == "summary"
    assert tags["feed"] == url + "/feed.atom"
    feed = await anon.get(tags["feed"])
    assert feed.status_code == 200
    assert "atom" in feed.headers["content-type"]


async def test_without_a_subtitle_the_first_paragraph_describes_it(
    server: LiveServer, anon: httpx.AsyncClient, tmp_path: Path
) -> None:
    slug = f"share-{uuid.uuid4().hex[:10]}"
    source = tmp_path / f"{slug}.md"
    source.write_text(
        f"---\nslug: {slug}\ntitle: A plain article\n---\n\n"
        "The **first** paragraph & its\nsecond line.\n\nNot this one.\n"
    )
    forum_command(server, "import-article", str(source))
    tags = await head_of(anon, slug)
    assert tags["description"] == "The first paragraph & its second line. — 0 replies"
