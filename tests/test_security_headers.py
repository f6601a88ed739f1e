"""Security headers: on every response the forum sends, whatever route, status or content type,
with a fresh Content-Security-Policy nonce each time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from starlette.routing import Mount, Route

from forum.app import create_app
from forum.settings import Settings
from tests.conftest import SLUG, LiveServer, Member, scratch_database, start_server, stop_server

FIXED = {
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


def nonce_of(response: httpx.Response) -> str:
    """The nonce in the response's policy, after checking the policy's every directive."""
    policy = response.headers.get("content-security-policy", "")
    directives = dict(part.strip().partition(" ")[::2] for part in policy.split(";"))
    match = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{22,})'", directives.get("script-src", ""))
    assert match, f"{response.request.url}: {policy!r}"
    nonce = match.group(1)
    assert directives == {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": f"'self' 'nonce-{nonce}'",
        "img-src": "'self' data:",
        "connect-src": directives["connect-src"],
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "object-src": "'none'",
    }
    return nonce


def assert_protected(response: httpx.Response, socket_origin: str) -> str:
    """Check every security header on the response; its nonce."""
    nonce = nonce_of(response)
    policy = response.headers["content-security-policy"]
    assert f"connect-src 'self' {socket_origin};" in policy
    for name, value in FIXED.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    return nonce


def get_paths(username: str, reply_id: int) -> list[str]:
    """A concrete path for every GET route in the app's own route table."""
    values = {
        "slug": SLUG,
        "reply_id": str(reply_id),
        "username": username,
        "token": "not-a-real-token",
        "signature": "not-a-signature",
        "encoded": "aHR0cHM6Ly9leGFtcGxlLmNvbS9wLnBuZw",
        "notification_id": "999999999",
    }
    paths = []
    for route in create_app(Settings()).routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()):
            paths.append(re.sub(r"{(\w+)(:\w+)?}", lambda m: values[m.group(1)], route.path))
        elif isinstance(route, Mount):
            file = "htmx.min.js" if route.name == "htmx" else "forum.css"
            paths.append(f"{route.path}/{file}")
    return paths


async def test_every_get_route_carries_the_headers(
    server: LiveServer, member: Member, anon: httpx.AsyncClient
) -> None:
    posted = await member.post_reply("A reply for the header walk.")
    assert posted.status_code == 201
    paths = get_paths(member.username, posted.json()["id"])
    assert len(paths) > 20
    socket_origin = server.url.replace("http://", "ws://")
    statuses = set()
    for client in (member.client, anon):
        for path in [*paths, "/no/such/page", "/api/no-such-thing", "/static/missing.css"]:
            response = await client.get(path)
            statuses.add(response.status_code)
            assert_protected(response, socket_origin)
            assert "strict-transport-security" not in response.headers
    # Pages, redirects, not-found, sign-in-required: all were among them.
    assert {200, 303, 401, 404} <= statuses


async def test_unsafe_requests_and_errors_carry_the_headers(
    server: LiveServer, member: Member, anon: httpx.AsyncClient
) -> None:
    socket_origin = server.url.replace("http://", "ws://")
    refused = await anon.post(f"/api/articles/{SLUG}/replies", json={"body": "x"})
    assert refused.status_code == 401
    invalid = await member.client.post(
        f"/api/articles/{SLUG}/replies", json={"body": ""}, headers=member.headers()
    )
    assert invalid.status_code == 422
    wrong_method = await anon.delete("/")
    assert wrong_method.status_code == 405
    for response in (refused, invalid, wrong_method):
        assert_protected(response, socket_origin)


async def test_each_response_gets_a_fresh_nonce_that_the_page_uses(
    server: LiveServer, member: Member
) -> None:
    first = await member.client.get(f"/a/{SLUG}")
    second = await member.client.get(f"/a/{SLUG}")
    nonces = [nonce_of(first), nonce_of(second)]
    assert nonces[0] != nonces[1]
    for response, nonce in zip((first, second), nonces, strict=True):
        page = BeautifulSoup(response.text, "html.parser")
        inline = page.select("script, style")
        # The signed-in page has its inline style as well as the scripts.
        assert page.select("style") and page.select("script")
        assert [element.get("nonce") for element in inline] == [nonce] * len(inline)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The forum with one always-failing route, told that it is served over HTTPS."""
    with scratch_database(tmp_path) as database:
        process, live = start_server(
            database, tmp_path, app="tests.failing_app:app", BASE_URL="https://forum.example"
        )
        try:
            yield live
        finally:
            stop_server(process)


async def test_over_https_with_hsts_and_on_server_errors(https_server: LiveServer) -> None:
    for path in ("/", "/fail", "/api/fail"):
        # A client per request: uvicorn closes the connection after an unhandled error.
        async with httpx.AsyncClient(base_url=https_server.url, timeout=10) as client:
            response = await client.get(path)
            assert response.status_code == (500 if "fail" in path else 200)
            assert_protected(response, "wss://forum.example")
            assert response.headers["strict-transport-security"] == "max-age=31536000"
        assert "deliberate" not in response.text
