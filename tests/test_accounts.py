"""Accounts: registration limits, sign-in, server-side sessions and CSRF tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from bs4 import BeautifulSoup

from forum.accounts.identity import SESSION_COOKIE
from models import Reply, Session, User
from tests.conftest import PASSWORD, SLUG, LiveServer, Member, unique_name

OK, INVALID = 201, 422
#: The longest password allowed, varied so that a shortened copy differs from it.
LONG_PASSWORD = ("Tr0ub4dor&3 " * 100)[:1024]


def username_of_length(length: int) -> str:
    """A new username of exactly length characters (the random part at the end)."""
    return unique_name("len").rjust(length, "x")[-length:]


def email_of_length(length: int) -> str:
    """A well-formed, new email address of exactly length characters (at least 27)."""
    domain = "@example.org"
    return unique_name("mail").rjust(length - len(domain), "m") + domain


def session_cookie(response: httpx.Response) -> SimpleCookie:
    """The Set-Cookie header that carries the session token, parsed."""
    headers = [
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
    ]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(headers[0])
    return cookie


def sha256(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def page_csrf_token(html: str) -> str:
    """The hidden csrf_token field of the sign-in or registration form on a page."""
    field = BeautifulSoup(html, "html.parser").select_one(
        "form.account-form input[name=csrf_token]"
    )
    assert field is not None
    return str(field["value"])


def field_errors(html: str) -> dict[str, str]:
    """Error messages shown beside form fields, keyed by the field they describe."""
    page = BeautifulSoup(html, "html.parser")
    errors = {}
    for error in page.select(".field-error"):
        described = page.select_one(f'[aria-describedby="{error["id"]}"]')
        assert described is not None, error
        errors[str(described["name"])] = error.get_text(strip=True)
    return errors


async def register(client: httpx.AsyncClient, **fields: object) -> httpx.Response:
    """POST /api/accounts with these JSON fields."""
    return await client.post("/api/accounts", json=fields)


async def sign_in(client: httpx.AsyncClient, username: object, password: object) -> httpx.Response:
    """POST /api/session with these credentials."""
    return await client.post("/api/session", json={"username": username, "password": password})


async def reply_rows() -> int:
    """How many replies the database holds."""
    return await Reply.all().count()


# Registration through the API


@pytest.mark.parametrize(("length", "status"), [(2, INVALID), (3, OK), (30, OK), (31, INVALID)])
async def test_username_length_limits(
    anon: httpx.AsyncClient, db: None, length: int, status: int
) -> None:
    before = await User.all().count()
    response = await register(anon, username=username_of_length(length), password=PASSWORD)
    assert response.status_code == status, response.text
    if status == INVALID:
        assert set(response.json()["errors"]) == {"username"}
        assert response.json()["errors"]["username"]
    assert await User.all().count() == before + (status == OK)


@pytest.mark.parametrize(
    "username", ["has space", "dot.ted", "ünïcode", "semi;colon", "", None, 12345]
)
async def test_username_must_be_letters_digits_underscore_or_dash(
    anon: httpx.AsyncClient, db: None, username: object
) -> None:
    before = await User.all().count()
    response = await register(anon, username=username, password=PASSWORD)
    assert response.status_code == 422
    assert response.json()["errors"]["username"]
    assert await User.all().count() == before


async def test_username_is_unique_case_insensitively(anon: httpx.AsyncClient, db: None) -> None:
    name = unique_name("Case")
    assert (await register(anon, username=name, password=PASSWORD)).status_code == 201
    before = await User.all().count()
    for variant in (name, name.upper(), name.lower()):
        taken = await register(anon, username=variant, password=PASSWORD)
        assert taken.status_code == 409
        assert list(taken.json()["errors"]) == ["username"]
        assert taken.json()["errors"]["username"]
    assert await User.all().count() == before
    assert await User.filter(username_key=name.lower()).count() == 1


@pytest.mark.parametrize(("length", "status"), [(7, INVALID), (8, OK), (1024, OK), (1025, INVALID)])
async def test_password_length_limits(
    anon: httpx.AsyncClient, db: None, length: int, status: int
) -> None:
    before = await User.all().count()
    password = ("p4ss word " * 103)[:length]
    response = await register(anon, username=unique_name(), password=password)
    assert response.status_code == status, response.text
    if status == INVALID:
        assert set(response.json()["errors"]) == {"password"}
        assert response.json()["errors"]["password"]
    assert await User.all().count() == before + (status == OK)


async def test_a_1024_character_password_is_never_truncated(
    anon: httpx.AsyncClient, db: None
) -> None:
    username = unique_name()
    assert (await register(anon, username=username, password=LONG_PASSWORD)).status_code == 201
    signed_in = await sign_in(anon, username, LONG_PASSWORD)
    assert signed_in.status_code == 200
    for wrong in (LONG_PASSWORD[:-1], LONG_PASSWORD[:72], LONG_PASSWORD + "x"):
        refused = await sign_in(anon, username, wrong)
        assert refused.status_code == 401, len(wrong)


@pytest.mark.parametrize("password", ["  spaces around  ", "line\r\nbreaks\rin it\n"])
async def test_a_password_is_kept_exactly_as_typed(
    anon: httpx.AsyncClient, db: None, password: str
) -> None:
    username = unique_name()
    assert (await register(anon, username=username, password=password)).status_code == 201
    exact = await sign_in(anon, username, password)
    assert exact.status_code == 200
    altered = " ".join(password.split())
    refused = await sign_in(anon, username, altered)
    assert refused.status_code == 401


@pytest.mark.parametrize(("length", "status"), [(253, OK), (254, OK), (255, INVALID)])
async def test_email_length_limits(
    anon: httpx.AsyncClient, db: None, length: int, status: int
) -> None:
    before = await User.all().count()
    email = email_of_length(length)
    assert len(email) == length
    response = await register(anon, username=unique_name(), password=PASSWORD, email=email)
    assert response.status_code == status, response.text
    if status == INVALID:
        assert set(response.json()["errors"]) == {"email"}
        assert response.json()["errors"]["email"]
    else:
        assert response.json()["email"] == email
    assert await User.all().count() == before + (status == OK)


@pytest.mark.parametrize("email", ["not-an-address", "two@@example.org", "no@tld", 42])
async def test_email_must_look_like_an_address(
    anon: httpx.AsyncClient, db: None, email: object
) -> None:
    before = await User.all().count()
    response = await register(anon, username=unique_name(), password=PASSWORD, email=email)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"email"}
    assert await User.all().count() == before


@pytest.mark.parametrize("fields", [{}, {"email": ""}, {"email": None}])
async def test_email_is_optional(
    anon: httpx.AsyncClient, db: None, fields: dict[str, object]
) -> None:
    username = unique_name()
    response = await register(anon, username=username, password=PASSWORD, **fields)
    assert response.status_code == 201
    assert response.json() == {"username": username, "email": None}
    user = await User.get(username_key=username.lower())
    assert user.email is None
    assert user.password_hash.startswith("$argon2id$")


async def test_every_bad_field_is_reported_at_once(anon: httpx.AsyncClient, db: None) -> None:
    before = await User.all().count()
    response = await register(anon, username="x", password="short", email="nope")
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"username", "password", "email"}
    assert await User.all().count() == before


# JSON only, and no CSRF token needed to register or sign in


@pytest.mark.parametrize("path", ["/api/accounts", "/api/session"])
async def test_account_endpoints_accept_only_json(
    anon: httpx.AsyncClient, db: None, path: str
) -> None:
    before = await User.all().count()
    fields = {"username": unique_name(), "password": PASSWORD}
    as_form = await anon.post(path, data=fields)
    assert as_form.status_code == 415
    assert "errors" in as_form.json()
    as_text = await anon.post(
        path,
        content=httpx.Request("POST", "/", json=fields).content,
        headers={"Content-Type": "text/plain"},
    )
    assert as_text.status_code == 415
    assert await User.all().count() == before


async def test_registering_and_signing_in_need_no_csrf_token(server: LiveServer, db: None) -> None:
    username = unique_name()
    async with httpx.AsyncClient(base_url=server.url) as fresh:
        created = await register(fresh, username=username, password=PASSWORD)
        assert created.status_code == 201
        assert created.json() == {"username": username, "email": None}
    async with httpx.AsyncClient(base_url=server.url) as fresh:
        signed_in = await sign_in(fresh, username, PASSWORD)
        assert signed_in.status_code == 200
        assert signed_in.json()["username"] == username
        assert signed_in.json()["csrf_token"]


async def test_sign_in_ignores_the_case_of_the_username(anon: httpx.AsyncClient) -> None:
    username = unique_name("MiXed")
    await register(anon, username=username, password=PASSWORD)
    response = await sign_in(anon, username.swapcase(), PASSWORD)
    assert response.status_code == 200
    assert response.json()["username"] == username


# Sign-in errors reveal nothing


async def test_sign_in_errors_do_not_reveal_whether_the_username_exists(
    anon: httpx.AsyncClient, member: Member
) -> None:
    attempts = [
        {"username": unique_name("ghost"), "password": PASSWORD},
        {"username": member.username, "password": PASSWORD + "!"},
        {"username": "x" * 31, "password": PASSWORD},
        {"username": member.username, "password": "p" * 1025},
    ]
    answers = [await anon.post("/api/session", json=attempt) for attempt in attempts]
    assert {answer.status_code for answer in answers} == {401}
    assert len({answer.text for answer in answers}) == 1
    assert all(SESSION_COOKIE not in answer.cookies for answer in answers)


async def test_sign_in_form_errors_do_not_reveal_whether_the_username_exists(
    server: LiveServer, member: Member
) -> None:
    messages = []
    attempts = [(unique_name("ghost"), PASSWORD), (member.username, "wrong password")]
    for username, password in attempts:
        async with httpx.AsyncClient(base_url=server.url) as browser:
            token = page_csrf_token((await browser.get("/login")).text)
            response = await browser.post(
                "/login", data={"username": username, "password": password, "csrf_token": token}
            )
            assert response.status_code == 422
            assert SESSION_COOKIE not in response.cookies
            page = BeautifulSoup(response.text, "html.parser")
            assert page.select_one("input[name=username]")["value"] == username
            assert page.select_one("input[name=password]")["value"] == ""
            messages.append(field_errors(response.text))
    assert messages[0] == messages[1]
    assert list(messages[0]) == ["password"]


# Sessions


async def test_session_cookie_is_httponly_lax_and_only_its_hash_is_stored(
    anon: httpx.AsyncClient, db: None
) -> None:
    username = unique_name()
    await register(anon, username=username, password=PASSWORD)
    response = await sign_in(anon, username, PASSWORD)
    morsel = session_cookie(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    token = morsel.value
    assert len(token) >= 43
    rows = await Session.filter(user__username_key=username.lower())
    assert len(rows) == 1
    assert rows[0].token_hash != token
    assert rows[0].token_hash == sha256(token)
    assert not await Session.filter(token_hash=token).exists()


async def test_every_sign_in_starts_its_own_session(anon: httpx.AsyncClient, db: None) -> None:
    username = unique_name()
    await register(anon, username=username, password=PASSWORD)
    tokens = set()
    for _ in range(2):
        response = await sign_in(anon, username, PASSWORD)
        tokens.add(session_cookie(response)[SESSION_COOKIE].value)
    assert len(tokens) == 2
    assert await Session.filter(user__username_key=username.lower()).count() == 2


async def replay(server: LiveServer, token: str, csrf: str) -> httpx.Response:
    """Post a reply with a copy of an old session cookie and its CSRF token."""
    async with httpx.AsyncClient(base_url=server.url, cookies={SESSION_COOKIE: token}) as thief:
        return await thief.post(
            f"/api/articles/{SLUG}/replies",
            json={"body": "replayed"},
            headers={"X-CSRF-Token": csrf},
        )


async def test_a_session_counts_until_it_expires_and_not_after(
    server: LiveServer, member: Member, db: None
) -> None:
    token = member.client.cookies[SESSION_COOKIE]
    session = await Session.get(token_hash=sha256(token))
    session.expires_at = datetime.now(UTC) + timedelta(seconds=60)
    await session.save(update_fields=["expires_at"])
    page = BeautifulSoup((await member.client.get("/")).text, "html.parser")
    assert page.select_one("form[action='/logout']") is not None
    before = await reply_rows()
    assert (await replay(server, token, member.csrf)).status_code == 201
    session.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    await session.save(update_fields=["expires_at"])
    page = BeautifulSoup((await member.client.get("/")).text, "html.parser")
    assert page.select_one("form[action='/logout']") is None
    assert (await replay(server, token, member.csrf)).status_code == 401
    assert await reply_rows() == before + 1


async def test_signing_out_through_the_api_deletes_the_session(
    server: LiveServer, member: Member, db: None
) -> None:
    token = member.client.cookies[SESSION_COOKIE]
    assert await Session.filter(token_hash=sha256(token)).exists()
    refused = await member.client.delete("/api/session")
    assert refused.status_code == 403
    assert await Session.filter(token_hash=sha256(token)).exists()
    response = await member.client.delete("/api/session", headers=member.headers())
    assert response.status_code == 204
    assert session_cookie(response)[SESSION_COOKIE]["max-age"] == "0"
    assert not await Session.filter(token_hash=sha256(token)).exists()
    before = await reply_rows()
    assert (await replay(server, token, member.csrf)).status_code == 401
    assert await reply_rows() == before


async def test_signing_out_with_the_form_deletes_the_session(
    server: LiveServer, member: Member, db: None
) -> None:
    token = member.client.cookies[SESSION_COOKIE]
    page = BeautifulSoup((await member.client.get("/")).text, "html.parser")
    form = page.select_one("form[action='/logout']")
    assert form is not None and form["method"] == "post"
    form_token = str(form.select_one("input[name=csrf_token]")["value"])
    refused = await member.client.post("/logout")
    assert refused.status_code == 403
    assert await Session.filter(token_hash=sha256(token)).exists()
    response = await member.client.post("/logout", data={"csrf_token": form_token})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert not await Session.filter(token_hash=sha256(token)).exists()
    after = BeautifulSoup((await member.client.get("/")).text, "html.parser")
    assert after.select_one("form[action='/logout']") is None
    before = await reply_rows()
    assert (await replay(server, token, member.csrf)).status_code == 401
    assert await reply_rows() == before


async def test_signing_out_when_signed_out_is_harmless(anon: httpx.AsyncClient) -> None:
    assert (await anon.delete("/api/session")).status_code == 204


# CSRF


async def test_api_writes_need_the_sessions_own_csrf_token(
    member: Member, other_member: Member, db: None
) -> None:
    path = f"/api/articles/{SLUG}/replies"
    before = await reply_rows()
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "0" * 64}, other_member.headers()):
        response = await member.client.post(path, json={"body": "forged"}, headers=headers)
        assert response.status_code == 403, headers
        assert list(response.json()["errors"]) == ["csrf_token"]
    assert await reply_rows() == before
    genuine = await member.client.post(path, json={"body": "genuine"}, headers=member.headers())
    assert genuine.status_code == 201
    assert await reply_rows() == before + 1


async def test_register_form_needs_its_csrf_token(server: LiveServer, db: None) -> None:
    username = unique_name()
    fields = {"username": username, "password": PASSWORD, "next": "/a/somewhere"}
    async with httpx.AsyncClient(base_url=server.url) as browser:
        token = page_csrf_token((await browser.get("/register")).text)
        for forged in ({}, {"csrf_token": "0" * 64}):
            refused = await browser.post("/register", data={**fields, **forged})
            assert refused.status_code == 403
            assert BeautifulSoup(refused.text, "html.parser").select_one(".error-message")
        assert not await User.filter(username_key=username.lower()).exists()
        response = await browser.post("/register", data={**fields, "csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"] == "/a/somewhere"
        session_token = session_cookie(response)[SESSION_COOKIE].value
    user = await User.get(username_key=username.lower())
    assert await Session.filter(user=user, token_hash=sha256(session_token)).exists()


async def test_a_csrf_token_from_another_browser_is_refused(server: LiveServer, db: None) -> None:
    username = unique_name()
    async with (
        httpx.AsyncClient(base_url=server.url) as mine,
        httpx.AsyncClient(base_url=server.url) as theirs,
    ):
        their_token = page_csrf_token((await theirs.get("/register")).text)
        await mine.get("/register")
        refused = await mine.post(
            "/register",
            data={"username": username, "password": PASSWORD, "csrf_token": their_token},
        )
        assert refused.status_code == 403
    assert not await User.filter(username_key=username.lower()).exists()


async def test_register_form_shows_errors_beside_the_fields(server: LiveServer, db: None) -> None:
    before = await User.all().count()
    async with httpx.AsyncClient(base_url=server.url) as browser:
        token = page_csrf_token((await browser.get("/register")).text)
        response = await browser.post(
            "/register",
            data={"username": "no", "password": "short", "email": "x@y", "csrf_token": token},
        )
    assert response.status_code == 422
    assert set(field_errors(response.text)) == {"username", "password", "email"}
    page = BeautifulSoup(response.text, "html.parser")
    assert page.select_one("input[name=username]")["value"] == "no"
    assert page.select_one("input[name=email]")["value"] == "x@y"
    assert page.select_one("input[name=password]")["value"] == ""
    assert await User.all().count() == before


async def test_register_form_reports_a_taken_username(server: LiveServer, member: Member) -> None:
    async with httpx.AsyncClient(base_url=server.url) as browser:
        token = page_csrf_token((await browser.get("/register")).text)
        response = await browser.post(
            "/register",
            data={"username": member.username.upper(), "password": PASSWORD, "csrf_token": token},
        )
    assert response.status_code == 422
    assert list(field_errors(response.text)) == ["username"]


async def test_login_form_needs_its_csrf_token(server: LiveServer, member: Member) -> None:
    fields = {"username": member.username, "password": PASSWORD, "next": "//evil.example/"}
    async with httpx.AsyncClient(base_url=server.url) as browser:
        token = page_csrf_token((await browser.get("/login")).text)
        refused = await browser.post("/login", data=fields)
        assert refused.status_code == 403
        assert SESSION_COOKIE not in refused.cookies
        response = await browser.post("/login", data={**fields, "csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        morsel = session_cookie(response)[SESSION_COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"].lower() == "lax"
        page = BeautifulSoup((await browser.get("/")).text, "html.parser")
        assert page.select_one(".signed-in strong").get_text() == member.username
