"""Members' profiles: their replies newest first a page at a time (as each viewer may read them),
the counts, the API, the avatar drawn from the name, and author names that link to profiles."""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup

from forum.profiles.avatars import avatar_svg
from forum.settings import PROJECT_ROOT
from models import Article, HideReason, Reply, ReplyStatus, Role, User
from tests.conftest import PASSWORD, LiveServer, Member
from tests.test_live import connect, next_event, partials
from tests.test_moderation import enrol, parse, user_row

HTMX = {"HX-Request": "true"}
#: The server runs with the default page size.
PAGE = 20


async def add_replies(article: Article, author: User, count: int, prefix: str) -> list[int]:
    """count top-level replies by author, straight in the database (oldest first); their ids."""
    ids = []
    for number in range(count):
        reply = await Reply.create(
            article=article, author=author, source=f"{prefix} {number}", html=f"<p>{number}</p>"
        )
        ids.append(reply.id)
    return ids


def shown_ids(page: BeautifulSoup) -> list[int]:
    """The reply ids a profile page (or a page of it) lists, in order."""
    return [int(item["id"].rsplit("-", 1)[1]) for item in page.select(".profile-reply")]


@pytest_asyncio.fixture
async def moderator(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """A moderator, made in the database."""
    someone = await enrol(server, "mod", role=Role.MODERATOR)
    yield someone
    await someone.client.aclose()


# The list of replies ---------------------------------------------------------------------------


async def test_the_profile_lists_replies_newest_first_a_page_at_a_time(
    anon: httpx.AsyncClient, member: Member, fresh_article: Article
) -> None:
    author = await user_row(member)
    ids = await add_replies(fresh_article, author, 2 * PAGE + 5, "Reply")
    newest_first = sorted(ids, reverse=True)

    first = parse((await anon.get(f"/u/{member.username}")).text)
    assert shown_ids(first) == newest_first[:PAGE]
    # A reply posted meanwhile: the pages after the first neither repeat nor skip anything.
    late = await add_replies(fresh_article, author, 1, "Late")
    seen = shown_ids(first)
    link = first.select_one("a.load-more")
    pages = 1
    while link is not None:
        response = await anon.get(link["href"])
        assert response.status_code == 200
        page = parse(response.text)
        assert page.select_one("h1").get_text() == member.username  # a whole page, without JS
        seen += shown_ids(page)
        link = page.select_one("a.load-more")
        pages += 1
    assert seen == newest_first and pages == 3
    assert late[0] not in seen

    # Each item: the article's title linking to it, and the reply's permalink.
    item = first.select_one(f"#profile-reply-{newest_first[0]}")
    assert item is not None
    article_link = item.select_one("a.article-link")
    assert article_link["href"] == f"/a/{fresh_article.slug}"
    assert article_link.get_text() == fresh_article.title
    assert item.select_one("a.when")["href"] == (
        f"/a/{fresh_article.slug}/r/{newest_first[0]}#reply-{newest_first[0]}"
    )
    assert item.select_one(".excerpt").get_text() == f"Reply {2 * PAGE + 4}"


async def test_load_more_with_htmx_answers_only_the_next_page(
    anon: httpx.AsyncClient, member: Member, fresh_article: Article
) -> None:
    ids = await add_replies(fresh_article, await user_row(member), PAGE + 3, "Reply")
    first = parse((await anon.get(f"/u/{member.username}")).text)
    link = first.select_one("a.load-more")
    assert link["hx-get"] == f"/u/{member.username}?before={min(shown_ids(first))}"
    more = await anon.get(link["hx-get"], headers=HTMX)
    assert more.status_code == 200
    fragment = parse(more.text)
    assert fragment.select_one("html, h1") is None
    assert shown_ids(fragment) == sorted(ids, reverse=True)[PAGE:]
    assert fragment.select_one("a.load-more") is None
    assert more.headers["x-focus"] == f"profile-reply-{shown_ids(fragment)[0]}"


async def test_counts_role_and_join_date(
    anon: httpx.AsyncClient, member: Member, fresh_article: Article
) -> None:
    empty = parse((await anon.get(f"/u/{member.username}")).text)
    assert empty.select_one("#reply-count").get_text() == "0 replies"
    assert empty.select_one(".empty").get_text() == "No replies yet."
    await add_replies(fresh_article, await user_row(member), 3, "Reply")
    page = parse((await anon.get(f"/u/{member.username.upper()}")).text)
    assert page.select_one("#reply-count").get_text() == "3 replies"
    facts = page.select_one(".profile-facts").get_text(" ", strip=True)
    assert facts.startswith("Reader")
    joined = (await user_row(member)).created_at
    assert page.select_one(".profile-facts time")["datetime"].startswith(f"{joined:%Y-%m-%d}")
    assert (await anon.get("/u/nobody_at_all_here")).status_code == 404


async def test_hidden_replies_only_for_their_author_and_moderators_deleted_for_no_one(
    anon: httpx.AsyncClient,
    member: Member,
    other_member: Member,
    moderator: Member,
    fresh_article: Article,
) -> None:
    author = await user_row(member)
    [shown] = await add_replies(fresh_article, author, 1, "Shown")
    marker = f"hidden-{secrets.token_hex(6)}"
    hidden = await Reply.create(
        article=fresh_article,
        author=author,
        source=f"Secret {marker}",
        html=f"<p>Secret {marker}</p>",
        status=ReplyStatus.HIDDEN,
        hidden_reason=HideReason.ABUSE,
        hidden_note=f"note {marker}",
        has_replies=True,
    )
    gone = f"deleted-{secrets.token_hex(6)}"
    await Reply.create(
        article=fresh_article,
        author=author,
        source=gone,
        html=f"<p>{gone}</p>",
        status=ReplyStatus.DELETED,
        has_replies=True,
    )
    path = f"/u/{member.username}"
    for client, sees_hidden in [
        (anon, False),
        (other_member.client, False),
        (member.client, True),
        (moderator.client, True),
    ]:
        page_response = await client.get(path)
        api = (await client.get(f"/api/users/{member.username}")).json()
        page = parse(page_response.text)
        assert gone not in page_response.text and gone not in str(api)
        expected = [hidden.id, shown] if sees_hidden else [shown]
        assert shown_ids(page) == expected
        assert [reply["id"] for reply in api["replies"]] == expected
        count = f"{len(expected)} {'reply' if len(expected) == 1 else 'replies'}"
        assert page.select_one("#reply-count").get_text() == count
        assert api["reply_count"] == len(expected)
        assert (marker in page_response.text) is sees_hidden
        assert (marker in str(api)) is sees_hidden
        if sees_hidden:
            item = page.select_one(f"#profile-reply-{hidden.id}")
            assert item.select_one(".hidden-marker").get_text() == "Hidden by a moderator"
            assert [reply["hidden"] for reply in api["replies"]] == [True, False]


# The API ---------------------------------------------------------------------------------------


async def test_the_api_answers_the_member_and_pages_of_their_replies(
    server: LiveServer, anon: httpx.AsyncClient, member: Member, fresh_article: Article
) -> None:
    ids = await add_replies(fresh_article, await user_row(member), 12, "Reply")
    response = await anon.get(f"/api/users/{member.username}", params={"limit": 5})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {
        "username",
        "role",
        "suspended",
        "suspended_until",
        "suspension_reason",
        "joined",
        "reply_count",
        "avatar_url",
        "replies",
        "next_cursor",
    }
    assert data["username"] == member.username and data["role"] == "reader"
    assert data["reply_count"] == 12 and data["suspended"] is False
    assert data["avatar_url"] == f"{server.url}/u/{member.username}/avatar.svg"
    first = data["replies"][0]
    assert first == {
        "id": ids[-1],
        "article": fresh_article.slug,
        "article_title": fresh_article.title,
        "article_url": f"{server.url}/a/{fresh_article.slug}",
        "url": f"{server.url}/a/{fresh_article.slug}/r/{ids[-1]}#reply-{ids[-1]}",
        "body_html": "<p>11</p>",
        "excerpt": "Reply 11",
        "created_at": first["created_at"],
        "edited_at": None,
        "hidden": False,
        "score": 0,
    }
    seen = [reply["id"] for reply in data["replies"]]
    while data["next_cursor"] is not None:
        data = (
            await anon.get(
                f"/api/users/{member.username}", params={"limit": 5, "before": data["next_cursor"]}
            )
        ).json()
        seen += [reply["id"] for reply in data["replies"]]
    assert seen == sorted(ids, reverse=True)


async def test_bad_cursors_and_unknown_members_are_refused(
    anon: httpx.AsyncClient, member: Member
) -> None:
    for before in ("abc", "-1", "0", "1e3"):
        api = await anon.get(f"/api/users/{member.username}", params={"before": before})
        assert api.status_code == 422 and set(api.json()["errors"]) == {"before"}, before
        page = await anon.get(f"/u/{member.username}", params={"before": before})
        assert 400 <= page.status_code < 500, before
    too_many = await anon.get(f"/api/users/{member.username}", params={"limit": 101})
    assert too_many.status_code == 422
    assert (await anon.get("/api/users/nobody_at_all_here")).status_code == 404


# The avatar ------------------------------------------------------------------------------------


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb (written here, not taken from the forum)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    red, green, blue = (
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    )
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two colours."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def theme_backgrounds() -> dict[str, list[str]]:
    """The page and surface colours of the light and the dark theme, from the stylesheet."""
    css = (PROJECT_ROOT / "static/forum.css").read_text()
    light, dark = css.split("@media (prefers-color-scheme: dark)", 1)
    found = {}
    for theme, text in (("light", light), ("dark", dark)):
        found[theme] = [
            re.search(rf"--{name}: (#[0-9a-f]{{6}});", text).group(1)  # type: ignore[union-attr]
            for name in ("bg", "surface")
        ]
    return found


def colours_of(svg: str) -> tuple[str, str]:
    """The disc's and the initials' colours of an avatar, which must draw with no style rule."""
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert not root.findall(f".//{ns}style") and not root.findall(f".//{ns}script")
    assert all("style" not in element.attrib for element in root.iter())
    disc, text = root.find(f"{ns}circle"), root.find(f"{ns}text")
    assert disc is not None and text is not None
    return disc.attrib["fill"], text.attrib["fill"]


def test_avatar_initials_pass_contrast_and_discs_stand_out_in_both_themes() -> None:
    themes = theme_backgrounds()
    discs = set()
    for number in range(2000):
        name = f"{secrets.choice(['ann', 'Bob', 'x', 'zoë_q', 'Li-Wei'])}{number}"
        disc, text = colours_of(avatar_svg(name))
        discs.add(disc)
        assert contrast(disc, text) >= 4.5, (name, disc, text)
        for theme, backgrounds in themes.items():
            for background in backgrounds:
                assert contrast(disc, background) >= 3, (name, disc, theme, background)
    # Names get colours of their own, not a handful.
    assert len(discs) > 1000


def test_the_avatar_is_the_same_for_the_same_name_and_shows_its_initials() -> None:
    assert avatar_svg("ann_lee") == avatar_svg("ann_lee") == avatar_svg("ann_lee"[:])
    assert colours_of(avatar_svg("Ann_Lee")) == colours_of(avatar_svg("ann_lee"))
    assert colours_of(avatar_svg("ann_lee")) != colours_of(avatar_svg("ann_lea"))
    for name, letters in [("ann_lee", "AL"), ("ann-lee", "AL"), ("AnnLee", "AL"), ("bob", "B")]:
        text = ElementTree.fromstring(avatar_svg(name)).find("{http://www.w3.org/2000/svg}text")
        assert text is not None and text.text == letters, name


async def test_the_avatar_is_served_as_cacheable_svg(
    anon: httpx.AsyncClient, member: Member
) -> None:
    response = await anon.get(f"/u/{member.username}/avatar.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert "max-age" in response.headers["cache-control"]
    assert "public" in response.headers["cache-control"]
    # Drawn by another process (the server) from the name alone: the same picture.
    assert response.text == avatar_svg(member.username)
    again = await anon.get(f"/u/{member.username.upper()}/avatar.svg")
    assert again.text == response.text
    # Once the browser's copy is old, asking whether it changed sends no picture again.
    unchanged = await anon.get(
        f"/u/{member.username}/avatar.svg", headers={"If-None-Match": response.headers["etag"]}
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert (await anon.get("/u/nobody_at_all_here/avatar.svg")).status_code == 404


# Author names link to profiles ---------------------------------------------------------------


def assert_linked(byline: BeautifulSoup | None, username: str) -> None:
    """A byline naming username: its avatar, and its name linking to its profile."""
    assert byline is not None
    link = byline.select_one("a.author")
    assert link is not None and link.get_text() == username
    assert link["href"] == f"/u/{username}"
    avatar = byline.select_one("img.avatar")
    assert avatar is not None and avatar["src"] == f"/u/{username}/avatar.svg"
    assert avatar["alt"] == ""


async def test_author_names_link_to_profiles_in_the_thread_notifications_and_queue(
    anon: httpx.AsyncClient,
    member: Member,
    other_member: Member,
    moderator: Member,
    fresh_article: Article,
) -> None:
    slug = fresh_article.slug
    top = (await member.post_reply("A thought", slug=slug)).json()["id"]
    answer = (await other_member.post_reply("An answer", top, slug=slug)).json()["id"]
    thread = parse((await anon.get(f"/a/{slug}")).text)
    assert_linked(thread.select_one(f"#reply-{top}-main .byline"), member.username)
    assert_linked(thread.select_one(f"#reply-{answer}-main .byline"), other_member.username)

    bell = parse((await member.client.get("/notifications")).text)
    assert_linked(bell.select_one("li.notification .byline"), other_member.username)

    flagged = await other_member.client.post(
        f"/api/replies/{top}/flags", json={"reason": "spam"}, headers=other_member.headers()
    )
    assert flagged.status_code == 201
    queue = parse((await moderator.client.get("/mod/flags")).text)
    assert_linked(queue.select_one(f"#flag-item-{top} .byline"), member.username)


async def test_a_reply_pushed_live_links_its_author_too(
    server: LiveServer, member: Member, fresh_article: Article
) -> None:
    async with connect(server, fresh_article.slug) as ws:
        reply = (await member.post_reply("Live words", slug=fresh_article.slug)).json()["id"]
        frame = await next_event(ws)
        assert frame["reply_id"] == reply
        root = partials(frame)["#live-buffer"]
        assert_linked(root.select_one(f"#reply-{reply}-main .byline"), member.username)


async def test_a_deleted_account_is_not_linked_and_has_no_profile(
    anon: httpx.AsyncClient, member: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    kept = (await member.post_reply("Words that stay", slug=slug)).json()["id"]
    row = await user_row(member)
    deleted = await member.client.request(
        "DELETE",
        "/api/me",
        json={"password": PASSWORD, "replies": "keep"},
        headers=member.headers(),
    )
    assert deleted.status_code == 204
    thread = parse((await anon.get(f"/a/{slug}")).text)
    byline = thread.select_one(f"#reply-{kept}-main .byline")
    assert byline is not None
    assert byline.select_one(".author").get_text() == "[deleted account]"
    assert byline.select_one("a, img") is None
    after = await User.get(id=row.id)
    for path in (f"/u/{after.username_key}", f"/u/{member.username}"):
        assert (await anon.get(path)).status_code == 404, path
        assert (await anon.get(f"{path}/avatar.svg")).status_code == 404, path
    assert (await anon.get(f"/api/users/{after.username_key}")).status_code == 404


async def test_a_refused_suspension_shows_the_profile_again_with_what_was_typed(
    member: Member, moderator: Member, fresh_article: Article
) -> None:
    [reply] = await add_replies(fresh_article, await user_row(member), 1, "Reply")
    response = await moderator.client.post(
        f"/u/{member.username}/suspend",
        data={"csrf_token": moderator.csrf, "reason": "", "days": "7"},
    )
    assert response.status_code == 422
    page = parse(response.text)
    assert page.select_one('[role="alert"]') is not None
    assert shown_ids(page) == [reply]
    assert (await user_row(member)).suspended_until is None
