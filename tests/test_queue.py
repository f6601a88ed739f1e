"""The moderators' queue at speed, through the API and the page's forms: its total and a cursor
through all of it, one action on several flagged replies (or all of one author's) with an
audit entry each, refusals by field, and handled items leaving every open queue live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup
from websockets.asyncio.client import ClientConnection

from models import Article, AuditAction, AuditEntry, Flag, Reply, ReplyStatus, Role, User
from tests.conftest import LiveServer, Member
from tests.test_moderation import (
    HTMX,
    TIMEOUT,
    api,
    enrol,
    last_audit_id,
    next_event,
    open_socket,
    parse,
    partials,
    post_reply,
)

BULK = "/api/mod/flags/bulk"


@dataclass
class Crew:
    """A moderator, a second moderator, a reader who flags, and two authors."""

    moderator: Member
    other_moderator: Member
    flagger: Member
    reader: Member
    authors: list[Member]


@pytest_asyncio.fixture
async def crew(server: LiveServer, db: None) -> AsyncIterator[Crew]:
    """Fresh members for one test, signed out afterwards."""
    members = Crew(
        moderator=await enrol(server, "mod", role=Role.MODERATOR),
        other_moderator=await enrol(server, "mod2", role=Role.MODERATOR),
        flagger=await enrol(server, "flagger"),
        reader=await enrol(server, "reader"),
        authors=[await enrol(server, "author") for _ in range(2)],
    )
    yield members
    for member in (members.moderator, members.other_moderator, members.flagger, members.reader):
        await member.client.aclose()
    for author in members.authors:
        await author.client.aclose()


async def flagged_replies(crew: Crew, article: Article, author: Member, count: int) -> list[int]:
    """count replies by author, each flagged once."""
    ids = []
    for number in range(count):
        reply_id = await post_reply(author, article.slug, f"Flag-worthy {number}")
        flagged = await api(crew.flagger, f"/api/replies/{reply_id}/flags", {"reason": "spam"})
        assert flagged.status_code == 201, flagged.text
        ids.append(reply_id)
    return ids


async def open_flags(reply_ids: list[int]) -> int:
    """How many of these replies' flags are still open."""
    return await Flag.filter(reply_id__in=reply_ids, resolved_at=None).count()


async def whole_queue(moderator: Member, limit: int) -> tuple[list[int], list[int]]:
    """Every reply id of the queue, a chunk of limit at a time; and the totals each chunk said."""
    seen: list[int] = []
    totals: list[int] = []
    cursor = ""
    while True:
        got = await moderator.client.get(
            "/api/mod/flags", params={"limit": limit, "cursor": cursor}
        )
        assert got.status_code == 200, got.text
        body = got.json()
        assert len(body["flags"]) <= limit
        seen += [item["reply_id"] for item in body["flags"]]
        totals.append(body["total"])
        if body["next_cursor"] is None:
            return seen, totals
        cursor = body["next_cursor"]


# Paging through all of it ---------------------------------------------------------------------


async def test_the_api_gives_the_total_and_a_cursor_through_the_whole_queue(
    crew: Crew, fresh_article: Article
) -> None:
    mine = await flagged_replies(crew, fresh_article, crew.authors[0], 7)
    seen, totals = await whole_queue(crew.moderator, 3)
    assert len(seen) == len(set(seen)) == totals[0], "every item once, as many as the total"
    assert set(mine) <= set(seen)


async def test_items_handled_while_paging_do_not_make_the_next_chunk_skip_others(
    crew: Crew, fresh_article: Article
) -> None:
    mine = await flagged_replies(crew, fresh_article, crew.authors[0], 6)
    first = (await crew.moderator.client.get("/api/mod/flags", params={"limit": 2})).json()
    # Everything on the first chunk is handled before the next is asked for (as a moderator
    # clearing the queue does): no offset can shift under the cursor.
    handled = [item["reply_id"] for item in first["flags"]]
    done = await api(crew.moderator, BULK, {"action": "dismiss", "reply_ids": handled})
    assert done.status_code == 200, done.text
    rest: list[int] = []
    cursor = first["next_cursor"]
    while cursor is not None:
        chunk = await crew.moderator.client.get(
            "/api/mod/flags", params={"limit": 2, "cursor": cursor}
        )
        rest += [item["reply_id"] for item in chunk.json()["flags"]]
        cursor = chunk.json()["next_cursor"]
    assert set(mine) - set(handled) <= set(rest)


async def test_bad_cursors_and_limits_are_refused_by_field(crew: Crew) -> None:
    for params, field in (
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "1.2"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
    ):
        got = await crew.moderator.client.get("/api/mod/flags", params=params)
        assert got.status_code == 422, (params, got.text)
        assert list(got.json()["errors"]) == [field]


# Acting on several at once --------------------------------------------------------------------


async def audit_since(last_id: int, action: AuditAction) -> list[AuditEntry]:
    """The audit entries of this kind written since last_id."""
    return await AuditEntry.filter(id__gt=last_id, action=action).order_by("id")


async def test_bulk_hide_hides_each_reply_with_its_own_audit_entry(
    crew: Crew, fresh_article: Article
) -> None:
    mine = await flagged_replies(crew, fresh_article, crew.authors[0], 3)
    last = await last_audit_id()
    payload = {"action": "hide", "reply_ids": mine, "reason": "spam", "note": "Sold pills"}
    done = await api(crew.moderator, BULK, payload)
    assert done.status_code == 200, done.text
    body = done.json()
    assert sorted(body["handled"]) == sorted(mine) and body["skipped"] == []
    assert body["total"] == (await crew.moderator.client.get("/api/mod/flags")).json()["total"]
    statuses = await Reply.filter(id__in=mine).values_list("status", flat=True)
    assert set(statuses) == {ReplyStatus.HIDDEN}
    assert await open_flags(mine) == 0
    entries = await audit_since(last, AuditAction.HIDE)
    assert sorted(entry.target_id for entry in entries) == sorted(mine)
    assert {(entry.reason, entry.note, entry.actor_name) for entry in entries} == {
        ("spam", "Sold pills", crew.moderator.username)
    }


async def test_bulk_dismiss_of_an_author_clears_all_their_flagged_replies_only(
    crew: Crew, fresh_article: Article
) -> None:
    theirs = await flagged_replies(crew, fresh_article, crew.authors[0], 3)
    others = await flagged_replies(crew, fresh_article, crew.authors[1], 2)
    last = await last_audit_id()
    done = await api(
        crew.moderator, BULK, {"action": "dismiss", "author": crew.authors[0].username}
    )
    assert done.status_code == 200, done.text
    assert sorted(done.json()["handled"]) == sorted(theirs)
    assert await open_flags(theirs) == 0
    assert await open_flags(others) == 2
    statuses = await Reply.filter(id__in=theirs).values_list("status", flat=True)
    assert set(statuses) == {ReplyStatus.VISIBLE}, "dismissed, not hidden"
    entries = await audit_since(last, AuditAction.DISMISS_FLAGS)
    assert sorted(entry.target_id for entry in entries) == sorted(theirs)


async def test_suspending_the_author_can_hide_all_their_replies(
    crew: Crew, fresh_article: Article
) -> None:
    author = crew.authors[0]
    flagged = await flagged_replies(crew, fresh_article, author, 2)
    unflagged = await post_reply(author, fresh_article.slug, "Not flagged, hidden all the same")
    last = await last_audit_id()
    payload = {
        "action": "suspend",
        "author": author.username,
        "reason": "Spamming",
        "hide_replies": True,
    }
    done = await api(crew.moderator, BULK, payload)
    assert done.status_code == 200, done.text
    assert done.json()["suspended"] == author.username
    assert sorted(done.json()["handled"]) == sorted(flagged)
    user = await User.get(username_key=author.username.lower())
    assert user.suspended_until is not None and user.suspension_reason == "Spamming"
    every = [*flagged, unflagged]
    statuses = await Reply.filter(id__in=every).values_list("status", flat=True)
    assert set(statuses) == {ReplyStatus.HIDDEN}
    assert await open_flags(flagged) == 0
    assert len(await audit_since(last, AuditAction.SUSPEND)) == 1
    hidden = await audit_since(last, AuditAction.HIDE)
    assert sorted(entry.target_id for entry in hidden) == sorted(every)


async def test_replies_handled_meanwhile_are_skipped_not_refused(
    crew: Crew, fresh_article: Article
) -> None:
    mine = await flagged_replies(crew, fresh_article, crew.authors[0], 2)
    first = await api(crew.other_moderator, BULK, {"action": "dismiss", "reply_ids": mine[:1]})
    assert first.status_code == 200, first.text
    again = await api(
        crew.moderator, BULK, {"action": "hide", "reply_ids": mine, "reason": "abuse"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["handled"] == mine[1:]
    assert again.json()["skipped"] == mine[:1]


async def test_bulk_refusals_name_their_field_and_write_nothing(
    crew: Crew, fresh_article: Article
) -> None:
    mine = await flagged_replies(crew, fresh_article, crew.authors[0], 2)
    author = crew.authors[0].username
    cases = [
        ({"action": "hide", "reason": "spam"}, "reply_ids"),
        ({"action": "dismiss", "reply_ids": []}, "reply_ids"),
        ({"action": "dismiss", "reply_ids": mine, "author": author}, "author"),
        ({"action": "dismiss", "author": "nobody_of_that_name"}, "author"),
        ({"action": "hide", "reply_ids": mine}, "reason"),
        ({"action": "hide", "reply_ids": mine, "reason": "nonsense"}, "reason"),
        ({"action": "hide", "reply_ids": mine, "reason": "other"}, "note"),
        ({"action": "banish", "reply_ids": mine}, "action"),
        ({"action": "dismiss", "reply_ids": [0]}, "reply_ids"),
        ({"action": "dismiss", "reply_ids": "12"}, "reply_ids"),
        ({"action": "suspend", "reply_ids": mine, "reason": "Why"}, "author"),
        ({"action": "suspend", "author": author, "reason": ""}, "reason"),
        ({"action": "suspend", "author": author, "reason": "Why", "until": "yesterday"}, "until"),
        ({"reply_ids": mine}, "action"),
    ]
    last = await last_audit_id()
    for payload, field in cases:
        refused = await api(crew.moderator, BULK, payload)
        assert refused.status_code == 422, (payload, refused.text)
        assert field in refused.json()["errors"], (payload, refused.json())
    assert await open_flags(mine) == 2
    assert await AuditEntry.filter(id__gt=last).count() == 0
    user = await User.get(username_key=author.lower())
    assert user.suspended_until is None


async def test_only_active_moderators_act_in_bulk(
    crew: Crew, fresh_article: Article, anon: httpx.AsyncClient
) -> None:
    mine = await flagged_replies(crew, fresh_article, crew.authors[0], 1)
    payload = {"action": "dismiss", "reply_ids": mine}
    refused = await api(crew.reader, BULK, payload)
    assert refused.status_code == 403
    assert (await crew.reader.client.get("/api/mod/flags")).status_code == 403
    signed_out = await anon.post(BULK, json=payload)
    assert signed_out.status_code == 401
    assert await open_flags(mine) == 1


# The page's forms ------------------------------------------------------------------------------


async def test_the_bulk_form_works_with_and_without_javascript(
    crew: Crew, fresh_article: Article
) -> None:
    first, second = await flagged_replies(crew, fresh_article, crew.authors[0], 2)
    form = {"csrf_token": crew.moderator.csrf, "action": "dismiss", "queue_page": "1"}
    plain = await crew.moderator.client.post("/mod/flags/bulk", data={**form, "reply_ids": first})
    assert plain.status_code == 303
    assert plain.headers["location"] == "/mod/flags?page=1#flag-total"
    assert await open_flags([first]) == 0

    # Refused without JavaScript: the queue again, the reply still ticked, the reason asked for.
    page = await crew.moderator.client.post(
        "/mod/flags/bulk", data={**form, "action": "hide", "reply_ids": second}
    )
    assert page.status_code == 422
    queue = parse(page.text)
    assert queue.select_one(f"#select-{second}").has_attr("checked")
    assert queue.select_one("#bulk-reason-error") is not None

    headers = {**HTMX, **crew.moderator.headers()}
    refused = await crew.moderator.client.post(
        "/mod/flags/bulk", data={**form, "action": "hide", "reply_ids": second}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.headers["hx-retarget"] == "#bulk-form"
    again = parse(refused.text).select_one("#bulk-form")
    assert again is not None
    assert again.select_one("#bulk-reason-error").get_text() == (
        "Choose a reason: spam, abuse, off-topic or other."
    )

    data = {**form, "action": "hide", "reason": "abuse", "reply_ids": second}
    done = await crew.moderator.client.post("/mod/flags/bulk", data=data, headers=headers)
    assert done.status_code == 200, done.text
    assert done.text.strip().startswith("Hid 1 reply.")
    swapped = partials({"content": done.text})
    assert swapped[f"#flag-item-{second}"]["hx-swap"] == "delete"
    assert swapped["#flag-total"].select_one("#flag-total") is not None


async def test_single_actions_from_the_queue_return_to_the_same_page_without_javascript(
    crew: Crew, fresh_article: Article
) -> None:
    first, second, third = await flagged_replies(crew, fresh_article, crew.authors[0], 3)
    client, csrf = crew.moderator.client, crew.moderator.csrf
    queue = parse((await client.get("/mod/flags?page=1")).text)
    hide_link = queue.select_one(f"#flag-item-{first} a[data-opens]")
    assert hide_link is not None and "queue_page=1" in str(hide_link["href"])
    form = parse((await client.get(str(hide_link["href"]))).text).select_one("form[id^=hide-form]")
    assert form is not None and form.select_one("input[name=queue_page]") is not None

    data = {"csrf_token": csrf, "reason": "spam", "queue_page": "1"}
    hidden = await client.post(f"/a/{fresh_article.slug}/r/{first}/hide", data=data)
    assert hidden.status_code == 303
    assert hidden.headers["location"] == "/mod/flags?page=1#flag-total"

    dismissed = await client.post(
        f"/a/{fresh_article.slug}/r/{second}/dismiss", data={"csrf_token": csrf, "queue_page": "1"}
    )
    assert dismissed.headers["location"] == "/mod/flags?page=1#flag-total"

    author = crew.authors[0].username
    suspend = {"csrf_token": csrf, "reason": "Spam", "days": "7", "queue_item": str(third)}
    suspended = await client.post(f"/u/{author}/suspend", data={**suspend, "queue_page": "1"})
    assert suspended.headers["location"] == "/mod/flags?page=1#flag-total"


# Live, for every moderator ------------------------------------------------------------------


async def frame_where(ws: ClientConnection, holds: Callable[[BeautifulSoup], bool]) -> None:
    """Read the moderator's frames until one shows a queue for which holds() is true."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = await next_event(ws)
            if frame["type"] != "flags.changed":
                continue
            if holds(partials(frame)["#flag-queue"]):
                return


async def test_handled_items_leave_every_moderators_open_queue(
    server: LiveServer, crew: Crew, fresh_article: Article
) -> None:
    hidden = await flagged_replies(crew, fresh_article, crew.authors[0], 2)
    suspended = await flagged_replies(crew, fresh_article, crew.authors[1], 2)
    every = [*hidden, *suspended]

    def shows(queue: BeautifulSoup, ids: list[int]) -> list[int]:
        return [reply_id for reply_id in ids if queue.select_one(f"#flag-item-{reply_id}")]

    async with (
        open_socket(server, "/mod/live", crew.moderator) as mine,
        open_socket(server, "/mod/live", crew.other_moderator) as theirs,
    ):
        # A flag now puts them all on the first page (most-flagged first) of both queues.
        for reply_id in every:
            await api(crew.reader, f"/api/replies/{reply_id}/flags", {"reason": "abuse"})
        for ws in (mine, theirs):
            await frame_where(ws, lambda queue: shows(queue, every) == every)

        done = await api(
            crew.moderator, BULK, {"action": "hide", "reply_ids": hidden, "reason": "spam"}
        )
        assert done.status_code == 200, done.text
        for ws in (mine, theirs):
            await frame_where(ws, lambda queue: shows(queue, every) == suspended)

        payload = {
            "action": "suspend",
            "author": crew.authors[1].username,
            "reason": "Abuse",
            "hide_replies": True,
        }
        done = await api(crew.other_moderator, BULK, payload)
        assert done.status_code == 200, done.text
        for ws in (mine, theirs):
            await frame_where(ws, lambda queue: shows(queue, every) == [])
