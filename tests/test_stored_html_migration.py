"""Migration 0008 brings replies stored before it to what forum.markdown renders now: headings
out of the page's outline (bold paragraphs) and focusable code blocks, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib

from bs4 import BeautifulSoup

from forum.markdown import render_reply
from models import Article, Reply, User
from tests.conftest import unique_name

MIGRATION = importlib.import_module("migrations.0008_reply_headings_out_of_outline").Migration


async def test_stored_replies_lose_their_headings_and_code_blocks_become_focusable(
    fresh_article: Article,
) -> None:
    author = await User.create(
        username=(name := unique_name()), username_key=name, password_hash="x"
    )
    # What the renderer before this change stored for "# Big", "###### Small" and a code block.
    old = (
        "<h4>Big</h4>\n<h6>Small</h6>\n<pre><code>x = 1\n</code></pre>\n<p>&lt;h4&gt; as text</p>\n"
    )
    reply = await Reply.create(article=fresh_article, author=author, source="s", html=old)
    untouched = await Reply.create(
        article=fresh_article, author=author, source="t", html="<p>Plain.</p>\n"
    )

    for operation in MIGRATION.operations:
        await Reply._meta.db.execute_script(operation.sql)

    migrated = (await Reply.get(id=reply.id)).html
    page = BeautifulSoup(migrated, "html.parser")
    assert page.find(["h1", "h2", "h3", "h4", "h5", "h6"]) is None
    assert [strong.get_text() for strong in page.select("p > strong")] == ["Big", "Small"]
    assert page.select_one("pre")["tabindex"] == "0"
    assert page.select("p")[-1].get_text() == "<h4> as text"
    # The same as rendering the source today.
    assert migrated == render_reply("# Big\n###### Small\n```\nx = 1\n```\n\n<h4> as text")
    assert (await Reply.get(id=untouched.id)).html == "<p>Plain.</p>\n"
