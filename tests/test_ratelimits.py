"""Anti-abuse limits with windows shortened through the settings: posting (new and established
accounts, moderators exempt), the duplicate guards (per author and per thread), sign-in
throttling per address and per account (whatever its spelling), registrations per address,
limits of forums sharing one Redis kept apart, and RATE_LIMITS=off turning all of it off.

The limits hold per server process, so these tests start a server of their own with the limits
on, over the same database as the session's server (to make accounts old or moderators there).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from bs4 import BeautifulSoup

from models import Article, Reply, Role, User
from tests.conftest import (
    PASSWORD,
    LiveServer,
    Member,
    sign_up,
    start_server,
    stop_server,
    unique_name,
)
from tests.test_moderation import enrol

HTMX = {"HX-Request": "true"}
#: Established accounts may post twice in two seconds; accounts younger than a day once an hour.
LIMITS = {
    "RATE_LIMITS": "on",
    "RATE_LIMIT_POSTS": "2/2 seconds",
    "RATE_LIMIT_NEW_ACCOUNT_POSTS": "1/hour",
    "NEW_ACCOUNT_HOURS": "24",
    "DUPLICATE_WINDOW_SECONDS": "1",
    "RATE_LIMIT_LOGIN_IP": "4/hour",
    "RATE_LIMIT_LOGIN_ACCOUNT": "2/hour",
    "RATE_LIMIT_REGISTER_IP": "2/hour",
}
TOO_FAST = "You are posting too fast. Try again in {} s."
TOO_MANY_SIGN_INS = "Too many sign-in attempts. Try again in {} s."
TOO_MANY_ACCOUNTS = "Too many new accounts from your address. Try again in {} s."
SAID_ALREADY = "Someone has just posted exactly this here. Say something of your own?"
#: Each test signs in from addresses of its own (127.0.0.0/8 is all loopback on Linux), so that
#: the per-address limit of one test does not count another's attempts.
_addresses = (f"127.0.0.{n}" for n in itertools.count(2))


@pytest.fixture(scope="module")
def limited(
    server: LiveServer, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server with every limit on, over the session's database."""
    process, live = start_server(database_url, tmp_path_factory.mktemp("limited"), **LIMITS)
    yield live
    stop_server(process)


@pytest_asyncio.fixture
async def newcomer(limited: LiveServer, db: None) -> AsyncIterator[Member]:
    """A member of the limited server whose account is minutes old."""
    someone = await enrol(limited, "newcomer")
    yield someone
    await someone.client.aclose()


@pytest_asyncio.fixture
async def regular(limited: LiveServer, db: None) -> AsyncIterator[Member]:
    """A member of the limited server whose account is two days old."""
    someone = await enrol(limited, "regular")
    await User.filter(username_key=someone.username.lower()).update(
        created_at=datetime.now(UTC) - timedelta(days=2)
    )
    yield someone
    await someone.client.aclose()


@pytest_asyncio.fixture
async def moderator(limited: LiveServer, db: None) -> AsyncIterator[Member]:
    """A moderator of the limited server, their account minutes old."""
    someone = await enrol(limited, "mod", role=Role.MODERATOR)
    yield someone
    await someone.client.aclose()


def parse(html: str) -> BeautifulSoup:
    """An HTML page or fragment, parsed."""
    return BeautifulSoup(html, "html.parser")


def retry_after(response: httpx.Response) -> int:
    """The Retry-After header of a 429, in seconds."""
    assert response.status_code == 429, response.text
    return int(response.headers["retry-after"])


async def replies_in(article: Article) -> int:
    """How many replies the article has in the database."""
    return await Reply.filter(article_id=article.id).count()


# Posting ---------------------------------------------------------------------------------------


async def test_a_new_account_posts_once_per_window(
    newcomer: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    assert (await newcomer.post_reply("Hello", slug=slug)).status_code == 201
    refused = await newcomer.post_reply("Hello again", slug=slug)
    wait = retry_after(refused)
    assert 2 < wait <= 3600, "held to the new accounts' hourly limit"
    assert refused.json() == {"errors": {"body": TOO_FAST.format(wait)}}
    assert await replies_in(fresh_article) == 1


async def test_an_established_account_may_post_again_once_the_window_passes(
    regular: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    for body in ("One", "Two"):
        assert (await regular.post_reply(body, slug=slug)).status_code == 201
    refused = await regular.post_reply("Three", slug=slug)
    wait = retry_after(refused)
    assert 1 <= wait <= 2
    assert refused.json() == {"errors": {"body": TOO_FAST.format(wait)}}
    assert await replies_in(fresh_article) == 2
    await asyncio.sleep(wait)
    assert (await regular.post_reply("Three", slug=slug)).status_code == 201


async def test_moderators_are_exempt_from_posting_limits(
    moderator: Member, fresh_article: Article
) -> None:
    for i in range(5):
        response = await moderator.post_reply(f"Moderator's note {i}", slug=fresh_article.slug)
        assert response.status_code == 201, response.text


async def test_the_same_text_twice_is_refused_within_the_window(
    moderator: Member, fresh_article: Article
) -> None:
    slug = fresh_article.slug
    assert (await moderator.post_reply("Same words", slug=slug)).status_code == 201
    again = await moderator.post_reply("Same words", slug=slug)
    assert again.status_code == 422
    assert again.json() == {
        "errors": {"body": "You have just posted exactly this. Say something new?"}
    }
    assert await replies_in(fresh_article) == 1
    await asyncio.sleep(float(LIMITS["DUPLICATE_WINDOW_SECONDS"]))
    assert (await moderator.post_reply("Same words", slug=slug)).status_code == 201


async def test_the_same_text_from_many_fresh_accounts_goes_through_once(
    limited: LiveServer, fresh_article: Article, moderator: Member
) -> None:
    slug = fresh_article.slug
    # Spacing and capitals do not make a copy new.
    spellings = ["Buy cheap watches at example.org", "buy  CHEAP watches\nat example.org "]
    accounts = [await enrol(limited, "echo") for _ in range(20)]
    try:
        # All at once, as a script would: of concurrent posts, too, only one is kept.
        answers = await asyncio.gather(
            *(someone.post_reply(spellings[i % 2], slug=slug) for i, someone in enumerate(accounts))
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] + [422] * 19
        for answer in answers:
            if answer.status_code == 422:
                assert answer.json() == {"errors": {"body": SAID_ALREADY}}
        # Nothing written for the refused ones: no reply, no event in the thread's stream.
        assert await replies_in(fresh_article) == 1
        await fresh_article.refresh_from_db()
        assert (fresh_article.last_seq, fresh_article.reply_count) == (1, 1)

        # The form says so beside the field, and keeps the text.
        late = await enrol(limited, "echo")
        try:
            response = await late.client.post(
                f"/a/{slug}/replies",
                data={"body": spellings[0].upper(), "parent_id": ""},
                headers={**late.headers(), **HTMX},
            )
        finally:
            await late.client.aclose()
        assert response.status_code == 422
        textarea = parse(response.text).select_one("form#reply-form-top textarea[name=body]")
        assert textarea is not None and textarea["aria-invalid"] == "true"
        error = parse(response.text).select_one(f"#{textarea['aria-describedby']}")
        assert error is not None and error.get_text(strip=True) == SAID_ALREADY
        assert await replies_in(fresh_article) == 1
    finally:
        for someone in accounts:
            await someone.client.aclose()
    # Moderators may repeat what others said (quoting spam when they warn about it, say).
    assert (await moderator.post_reply(spellings[0], slug=slug)).status_code == 201
    assert await replies_in(fresh_article) == 2


@pytest.mark.parametrize("htmx", [False, True], ids=["plain form", "htmx"])
async def test_the_reply_form_shows_the_limit_beside_the_field(
    newcomer: Member, fresh_article: Article, htmx: bool
) -> None:
    slug = fresh_article.slug
    assert (await newcomer.post_reply("First", slug=slug)).status_code == 201
    response = await newcomer.client.post(
        f"/a/{slug}/replies",
        data={"body": "Second thoughts", "parent_id": ""},
        headers={**newcomer.headers(), **(HTMX if htmx else {})},
    )
    wait = retry_after(response)
    form = parse(response.text).select_one("form#reply-form-top")
    assert form is not None
    textarea = form.select_one("textarea[name=body]")
    assert textarea is not None and textarea.get_text() == "Second thoughts", "the text is kept"
    assert textarea["aria-invalid"] == "true"
    error = form.select_one(f"#{textarea['aria-describedby']}")
    assert error is not None and error.get_text(strip=True) == TOO_FAST.format(wait)
    assert await replies_in(fresh_article) == 1


# Signing in ------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def account(server: LiveServer) -> AsyncIterator[str]:
    """The name of an account with PASSWORD (made through the session's server)."""
    someone = await sign_up(server)
    await someone.client.aclose()
    yield someone.username


def client_at(server: LiveServer, address: str) -> httpx.AsyncClient:
    """A client whose requests come from this loopback address."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.url, transport=transport, timeout=10)


async def api_sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """POST /api/session."""
    return await client.post("/api/session", json={"username": username, "password": password})


async def test_sign_in_is_throttled_per_account(
    limited: LiveServer, account: str, server: LiveServer
) -> None:
    other = await sign_up(server)
    await other.client.aclose()
    first_address, second_address = next(_addresses), next(_addresses)
    async with (
        client_at(limited, first_address) as here,
        client_at(limited, second_address) as there,
    ):
        for _ in range(2):
            assert (await api_sign_in(here, account, "wrong password")).status_code == 401
        refused = await api_sign_in(here, account, PASSWORD)
        wait = retry_after(refused)
        assert refused.json() == {"errors": {"password": TOO_MANY_SIGN_INS.format(wait)}}
        assert "forum_session" not in refused.cookies
        # The account is throttled from anywhere; this address may still sign in to others.
        assert (await api_sign_in(there, account, PASSWORD)).status_code == 429
        assert (await api_sign_in(here, other.username, PASSWORD)).status_code == 200


async def test_every_spelling_of_an_account_name_shares_its_sign_in_attempts(
    limited: LiveServer, account: str
) -> None:
    async with (
        client_at(limited, next(_addresses)) as here,
        client_at(limited, next(_addresses)) as there,
    ):
        # Sign-in forgives surrounding spaces and case: each of these is the same account.
        for spelling in (f" {account}", f"{account.upper()}\n"):
            assert (await api_sign_in(here, spelling, "wrong password")).status_code == 401
        for spelling in (account, f"{account}\n", f"\t{account.upper()} "):
            refused = await api_sign_in(there, spelling, PASSWORD)
            wait = retry_after(refused)
            assert refused.json() == {"errors": {"password": TOO_MANY_SIGN_INS.format(wait)}}
            assert "forum_session" not in refused.cookies


async def test_sign_in_is_throttled_per_address(limited: LiveServer, account: str) -> None:
    async with client_at(limited, next(_addresses)) as client:
        for _ in range(4):
            response = await api_sign_in(client, unique_name("nobody"), "wrong password")
            assert response.status_code == 401
        refused = await api_sign_in(client, account, PASSWORD)
        wait = retry_after(refused)
        assert refused.json() == {"errors": {"password": TOO_MANY_SIGN_INS.format(wait)}}
    async with client_at(limited, next(_addresses)) as elsewhere:
        assert (await api_sign_in(elsewhere, account, PASSWORD)).status_code == 200


async def test_the_sign_in_form_shows_the_limit_beside_the_password(
    limited: LiveServer, account: str
) -> None:
    async with client_at(limited, next(_addresses)) as browser:
        field = parse((await browser.get("/login")).text).select_one("[name=csrf_token]")
        assert field is not None
        form = {"username": account, "password": "wrong password", "csrf_token": field["value"]}
        for _ in range(2):
            assert (await browser.post("/login", data=form)).status_code == 422
        response = await browser.post("/login", data={**form, "password": PASSWORD})
        wait = retry_after(response)
    page = parse(response.text)
    password = page.select_one("form.account-form input[name=password]")
    assert password is not None and password["aria-invalid"] == "true"
    error = page.select_one(f"#{password['aria-describedby']}")
    assert error is not None and error.get_text(strip=True) == TOO_MANY_SIGN_INS.format(wait)
    assert "forum_session" not in response.cookies


# Registering -----------------------------------------------------------------------------------


async def api_register(client: httpx.AsyncClient, username: str) -> httpx.Response:
    """POST /api/accounts."""
    return await client.post("/api/accounts", json={"username": username, "password": PASSWORD})


async def test_an_address_registers_a_few_accounts_through_the_api_then_waits(
    limited: LiveServer, db: None
) -> None:
    async with client_at(limited, next(_addresses)) as client:
        for _ in range(2):
            assert (await api_register(client, unique_name("signup"))).status_code == 201
        name = unique_name("signup")
        refused = await api_register(client, name)
        wait = retry_after(refused)
        assert refused.json() == {"errors": {"username": TOO_MANY_ACCOUNTS.format(wait)}}
        assert not await User.filter(username_key=name.lower()).exists()
        # Mistakes in the form do not count as accounts made.
        assert (await api_register(client, "x")).status_code == 422
    async with client_at(limited, next(_addresses)) as elsewhere:
        assert (await api_register(elsewhere, name)).status_code == 201


async def register_form(server: LiveServer, address: str, username: str) -> httpx.Response:
    """Register through the HTML form, as a new browser at address."""
    async with client_at(server, address) as browser:
        field = parse((await browser.get("/register")).text).select_one("[name=csrf_token]")
        assert field is not None
        form = {"username": username, "password": PASSWORD, "csrf_token": field["value"]}
        return await browser.post("/register", data=form)


async def test_the_register_form_shows_the_limit_beside_the_name(
    limited: LiveServer, db: None
) -> None:
    address = next(_addresses)
    for _ in range(2):
        assert (await register_form(limited, address, unique_name("form"))).status_code == 303
    name = unique_name("form")
    response = await register_form(limited, address, name)
    wait = retry_after(response)
    page = parse(response.text)
    username = page.select_one("form.account-form input[name=username]")
    assert username is not None and username["value"] == name
    assert username["aria-invalid"] == "true"
    error = page.select_one(f"#{username['aria-describedby']}")
    assert error is not None and error.get_text(strip=True) == TOO_MANY_ACCOUNTS.format(wait)
    assert "forum_session" not in response.cookies
    assert not await User.filter(username_key=name.lower()).exists()


# Forums sharing one Redis --------------------------------------------------------------------


@pytest.mark.redis
async def test_forums_sharing_a_redis_keep_their_limits_apart(
    database_url: str, redis_url: str, account: str, tmp_path: Path
) -> None:
    """Two processes of one forum (one BROKER_PREFIX) share their limits; another forum on the
    same Redis (its own prefix) does not count their attempts."""
    ours, theirs = f"forum-{uuid.uuid4().hex[:8]}", f"forum-{uuid.uuid4().hex[:8]}"
    started = [
        start_server(database_url, tmp_path, **LIMITS, BROKER_URL=redis_url, BROKER_PREFIX=prefix)
        for prefix in (ours, ours, theirs)
    ]
    try:
        (_, first), (_, second), (_, other_forum) = started
        address = next(_addresses)
        async with client_at(first, address) as client:
            for _ in range(2):
                assert (await api_sign_in(client, account, "wrong password")).status_code == 401
        async with client_at(second, address) as client:
            assert (await api_sign_in(client, account, PASSWORD)).status_code == 429
        async with client_at(other_forum, address) as client:
            assert (await api_sign_in(client, account, PASSWORD)).status_code == 200
    finally:
        for process, _ in started:
            stop_server(process)


# Limits off ------------------------------------------------------------------------------------


async def test_rate_limits_off_turns_every_limit_off(
    server: LiveServer, account: str, fresh_article: Article, db: None
) -> None:
    assert server.env["RATE_LIMITS"] == "off"
    newcomer = await enrol(server, "newcomer")
    try:
        for body in ("One", "Two", "Three", "Three", "Three"):
            response = await newcomer.post_reply(body, slug=fresh_article.slug)
            assert response.status_code == 201, response.text
        # Nor is anyone else's copy refused.
        copycat = await enrol(server, "copycat")
        try:
            response = await copycat.post_reply("Three", slug=fresh_article.slug)
            assert response.status_code == 201, response.text
        finally:
            await copycat.client.aclose()
    finally:
        await newcomer.client.aclose()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for _ in range(6):
            assert (await api_sign_in(client, account, "wrong password")).status_code == 401
        assert (await api_sign_in(client, account, PASSWORD)).status_code == 200
