"""Reading a thread: "continue this thread" counts the whole subthread the reader may see,
replies past the indent limit say whom they answer, and a returning member sees what is new
since their last visit, in every order, hidden replies left out for readers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup, Tag

from models import Article, Reply, Role, ThreadVisit, User
from tests.conftest import LiveServer, Member
from tests.test_moderation import enrol, hide

HTMX = {"HX-Request": "true"}


@pytest_asyncio.fixture
async def moderator(server: LiveServer, db: None) -> AsyncIterator[Member]:
    someone = await enrol(server, "mod", role=Role.MODERATOR)
    yield someone
    await someone.client.aclose()


async def reply(member: Member, article: Article, body: str, parent: int | None = None) -> int:
    response = await member.post_reply(body, parent, slug=article.slug)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def chain(members: list[Member], article: Article, length: int) -> list[int]:
    """A chain of replies, each answering the one before, by the members in turn."""
    ids: list[int] = []
    for level in range(length):
        ids.append(
            await reply(
                members[level % len(members)], article, f"Level {level}", (ids or [None])[-1]
            )
        )
    return ids


def page_of(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def continue_link(page: BeautifulSoup, parent_id: int) -> Tag:
    link = page.select_one(f"#children-{parent_id} > a.more-replies")
    assert link is not None, f"no link under reply {parent_id}: {page.select_one('#replies')}"
    return link


# "Continue this thread" ------------------------------------------------------------------------


async def test_continue_this_thread_counts_every_reply_below_it(
    member: Member, other_member: Member, moderator: Member, fresh_article: Article
) -> None:
    # Level 0, 1, 2 show (the preview is three levels deep); under level 2: a subthread of 4.
    top, middle, edge, below = await chain([member, other_member], fresh_article, 4)
    deeper = await reply(member, fresh_article, "Deeper", below)
    await reply(other_member, fresh_article, "Deepest", deeper)
    removed = await reply(other_member, fresh_article, "Beside", below)

    page = page_of((await member.client.get(f"/a/{fresh_article.slug}")).text)
    link = continue_link(page, edge)
    assert "Continue this thread (4 replies)" in " ".join(link.get_text().split())

    await hide(moderator, removed)
    for viewer, count in ((member, 3), (moderator, 4)):
        page = page_of((await viewer.client.get(f"/a/{fresh_article.slug}")).text)
        text = " ".join(continue_link(page, edge).get_text().split())
        assert f"Continue this thread ({count} replies)" in text, text
    assert top and middle


async def test_show_more_still_counts_direct_replies(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    top = await reply(member, fresh_article, "Top")
    children = [await reply(other_member, fresh_article, f"Child {n}", top) for n in range(5)]
    await reply(member, fresh_article, "Grandchild", children[0])
    page = page_of((await member.client.get(f"/a/{fresh_article.slug}")).text)
    text = " ".join(continue_link(page, top).get_text().split())
    assert text == "Show 2 more replies"


# Past the indent limit -------------------------------------------------------------------------


async def test_replies_past_the_indent_limit_say_whom_they_answer(
    member: Member,
    other_member: Member,
    moderator: Member,
    anon: httpx.AsyncClient,
    fresh_article: Article,
) -> None:
    ids = await chain([member, other_member], fresh_article, 9)
    authors = [member.username, other_member.username] * 5
    # The permalink of level 5 shows levels 5, 6 and 7; 6 and 7 sit past the indent limit (6).
    page = page_of((await member.client.get(f"/a/{fresh_article.slug}/r/{ids[5]}")).text)
    for level in (6, 7):
        note = page.select_one(f"#reply-{ids[level]} > .replying-to")
        assert note is not None, level
        link = note.select_one("a")
        assert link.get_text() == f"@{authors[level - 1]}"
        assert link["href"] == f"/a/{fresh_article.slug}/r/{ids[level - 1]}#reply-{ids[level - 1]}"
    # Within the limit, the indent says it.
    assert page.select_one(f"#reply-{ids[5]} > .replying-to") is None

    # A parent the reader may not see whole is not named (its author and moderators see it).
    await hide(moderator, ids[6])
    page = page_of((await anon.get(f"/a/{fresh_article.slug}/r/{ids[5]}")).text)
    note = page.select_one(f"#reply-{ids[7]} > .replying-to")
    assert note is not None and note.get_text(" ", strip=True) == "replying to a removed reply"
    assert other_member.username not in note.get_text()
    page = page_of((await moderator.client.get(f"/a/{fresh_article.slug}/r/{ids[5]}")).text)
    assert page.select_one(f"#reply-{ids[7]} > .replying-to a").get_text() == f"@{authors[6]}"


# New since the last visit ----------------------------------------------------------------------


async def end_visit(member: Member, article: Article) -> None:
    """An hour passes: the thread's replies and the member's last load of it are an hour
    older, so their next load is a new visit."""
    user = await User.get(username=member.username)
    for row in await Reply.filter(article_id=article.id):
        await Reply.filter(id=row.id).update(created_at=row.created_at - timedelta(hours=1))
    stored = await ThreadVisit.get(user_id=user.id, article_id=article.id)
    await ThreadVisit.filter(id=stored.id).update(seen_at=stored.seen_at - timedelta(hours=1))


def new_marks(page: BeautifulSoup) -> list[int]:
    marked = page.select(".reply-main:has(.new-badge)")
    return sorted(
        int(str(node["id"]).removeprefix("reply-").removesuffix("-main")) for node in marked
    )


async def test_a_returning_member_sees_what_is_new_in_every_order(
    member: Member, other_member: Member, moderator: Member, fresh_article: Article
) -> None:
    old = await reply(other_member, fresh_article, "Before the first visit")
    first = page_of((await member.client.get(f"/a/{fresh_article.slug}")).text)
    assert new_marks(first) == [] and first.select_one("#new-since") is None

    await end_visit(member, fresh_article)
    fresh_top = await reply(other_member, fresh_article, "New at the top")
    fresh_child = await reply(other_member, fresh_article, "New below", old)
    await reply(member, fresh_article, "My own, not new to me")
    hidden = await reply(other_member, fresh_article, "New but hidden")
    await hide(moderator, hidden)

    for order in ("newest", "oldest", "top", "newest"):
        response = await member.client.get(f"/a/{fresh_article.slug}?order={order}")
        page = page_of(response.text)
        assert new_marks(page) == sorted([fresh_top, fresh_child]), order
        link = page.select_one("#new-since a")
        assert link is not None and link.get_text() == "2 new replies since your last visit"
        assert link["href"] == f"#reply-{min(fresh_top, fresh_child)}"

    # Paging and opening a reply keep the marks of this visit.
    permalink = page_of((await member.client.get(f"/a/{fresh_article.slug}/r/{old}")).text)
    assert new_marks(permalink) == [fresh_child]

    # Back again after a pause: nothing new since.
    await end_visit(member, fresh_article)
    again = page_of((await member.client.get(f"/a/{fresh_article.slug}")).text)
    assert new_marks(again) == [] and again.select_one("#new-since") is None


async def test_a_moderator_counts_hidden_replies_as_new(
    member: Member, other_member: Member, moderator: Member, fresh_article: Article
) -> None:
    await moderator.client.get(f"/a/{fresh_article.slug}")
    await end_visit(moderator, fresh_article)
    shown = await reply(other_member, fresh_article, "Shown")
    hidden = await reply(member, fresh_article, "Hidden")
    await hide(moderator, hidden)
    page = page_of((await moderator.client.get(f"/a/{fresh_article.slug}")).text)
    assert new_marks(page) == sorted([shown, hidden])
    assert page.select_one("#new-since a").get_text() == "2 new replies since your last visit"


async def test_the_link_leads_to_a_new_reply_not_on_the_page(
    member: Member, other_member: Member, fresh_article: Article
) -> None:
    top = await reply(other_member, fresh_article, "Top")
    chain_ids = [top]
    for level in range(3):
        chain_ids.append(
            await reply(other_member, fresh_article, f"Level {level + 1}", chain_ids[-1])
        )
    await member.client.get(f"/a/{fresh_article.slug}")
    await end_visit(member, fresh_article)
    deep = await reply(other_member, fresh_article, "Deep and new", chain_ids[-1])
    page = page_of((await member.client.get(f"/a/{fresh_article.slug}")).text)
    link = page.select_one("#new-since a")
    assert link.get_text() == "1 new reply since your last visit"
    assert link["href"] == f"/a/{fresh_article.slug}/r/{deep}#reply-{deep}"


async def test_signed_out_readers_leave_no_visit(
    anon: httpx.AsyncClient, other_member: Member, fresh_article: Article
) -> None:
    await reply(other_member, fresh_article, "Anything")
    page = page_of((await anon.get(f"/a/{fresh_article.slug}")).text)
    assert new_marks(page) == [] and page.select_one("#new-since") is None
    assert await ThreadVisit.filter(article_id=fresh_article.id).count() == 0
