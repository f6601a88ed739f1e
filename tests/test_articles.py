"""The seed article: loaded once, listed with its reply count, rendered faithfully."""

from __future__ import annotations

import httpx
from bs4 import BeautifulSoup

from models import Article
from tests.conftest import SLUG, LiveServer

SECTION_HEADINGS = [
    "A New Chapter in the Ukraine Conflict",
    "Why Now?",
    "Strategic Implications of the Policy Shift",
    "North Korea’s Role in the Conflict",
    "Trump’s Upcoming Presidency and the Future of U.S. Policy",
    "The Global Stakes",
    "Conclusion",
]


async def test_article_page_renders_the_seed_faithfully(anon: httpx.AsyncClient) -> None:
    response = await anon.get(f"/a/{SLUG}")
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    article = page.select_one("article.article")
    assert article is not None
    assert [h.get_text(strip=True) for h in page.select("h1")] == [
        "Biden’s Armed Shift: Ukraine Authorized to Strike Inside Russia"
    ]
    subtitle = article.select_one(".subtitle").get_text(strip=True)
    assert subtitle == "Ukraine Authorized to Strike Inside Russia"
    assert [h.get_text(strip=True) for h in article.select(".article-body h2")] == SECTION_HEADINGS
    items = article.select(".article-body ol > li")
    assert [li.get_text(strip=True).split(":")[0] for li in items] == [
        "Strengthening Ukraine’s Offensive Capabilities",
        "Escalating International Tensions",
        "Global Power Realignments",
    ]
    paragraphs = article.select(".article-body > p")
    assert len(paragraphs) == 14
    assert paragraphs[0].get_text().startswith("In a landmark decision, President Joe Biden")
    assert paragraphs[-1].get_text().endswith("the future of global stability.")
    text = article.get_text()
    assert "or to participate" not in text
    assert "Reply" not in [p.get_text(strip=True) for p in paragraphs]


async def test_index_lists_the_article_with_its_reply_count(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/")
    page = BeautifulSoup(response.text, "html.parser")
    # Other test modules import articles of their own into the same forum: find the seed one.
    links = page.select("a.article-link")
    assert f"/a/{SLUG}" in [a["href"] for a in links]
    count = page.select_one(f'.article-item:has(a[href="/a/{SLUG}"]) .reply-count')
    assert count is not None and count["data-count"].isdigit()


async def test_api_lists_and_shows_the_article(anon: httpx.AsyncClient, server: LiveServer) -> None:
    listing = (await anon.get("/api/articles")).json()["articles"]
    seed = [a for a in listing if a["slug"] == SLUG]
    assert len(seed) == 1
    assert seed[0]["url"] == f"{server.url}/a/{SLUG}"
    detail = (await anon.get(f"/api/articles/{SLUG}")).json()
    assert "<h2>Why Now?</h2>" in detail["body_html"]
    missing = await anon.get("/api/articles/no-such-article")
    assert missing.status_code == 404
    assert "errors" in missing.json()


async def test_loading_is_idempotent(db: None) -> None:
    assert await Article.filter(slug=SLUG).count() == 1
