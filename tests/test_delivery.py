"""How pages reach the browser: compressed when it pays, static files under addresses that
change with their content and are cached for a year, and an icon."""

from __future__ import annotations

import gzip
import json
import re

import httpx
from bs4 import BeautifulSoup

from forum.static_assets import IMMUTABLE
from tests.conftest import SLUG, Member

HASHED = re.compile(r"^/static/(?P<path>[\w./-]+)\?v=(?P<hash>[0-9a-f]{12})$")


async def raw(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, bytes]:
    """The response to a GET asking for gzip, and its body as it came over the wire."""
    async with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
        return response, b"".join([chunk async for chunk in response.aiter_raw()])


# Compression -------------------------------------------------------------------------------------


async def test_pages_json_css_and_js_are_sent_gzipped_and_decode(
    anon: httpx.AsyncClient,
) -> None:
    page, body = await raw(anon, f"/a/{SLUG}")
    assert page.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in page.headers["vary"].lower()
    soup = BeautifulSoup(gzip.decompress(body), "html.parser")
    assert soup.select_one("article h1") is not None
    api, body = await raw(anon, f"/api/articles/{SLUG}")
    assert api.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["slug"] == SLUG
    for path in ("/static/forum.css", "/static/vendor/htmx/htmx.min.js"):
        response, body = await raw(anon, path)
        assert response.headers["content-encoding"] == "gzip", path
        assert len(gzip.decompress(body)) > len(body)


async def test_signed_in_pages_are_not_compressed_beside_their_csrf_token(
    member: Member,
) -> None:
    """BREACH: a compressed page holding the session's token and text an attacker chose would
    leak the token through its size; the member's JSON and static files are still compressed."""
    page, body = await raw(member.client, f"/a/{SLUG}")
    assert "content-encoding" not in page.headers
    form_token = BeautifulSoup(body, "html.parser").select_one('input[name="csrf_token"]')
    assert form_token is not None and form_token["value"] == member.csrf
    api, body = await raw(member.client, f"/api/articles/{SLUG}")
    assert api.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["slug"] == SLUG
    css, _ = await raw(member.client, "/static/forum.css")
    assert css.headers["content-encoding"] == "gzip"


async def test_small_bodies_and_clients_without_gzip_get_plain_bytes(
    anon: httpx.AsyncClient,
) -> None:
    small, body = await raw(anon, "/healthz")
    assert "content-encoding" not in small.headers
    assert json.loads(body) == {"database": "ok", "broker": "ok"}
    plain = await anon.get(f"/a/{SLUG}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert BeautifulSoup(plain.text, "html.parser").select_one("article h1") is not None


# Static files ------------------------------------------------------------------------------------


async def test_the_page_links_hashed_static_files_cached_for_a_year(
    anon: httpx.AsyncClient,
) -> None:
    soup = BeautifulSoup((await anon.get(f"/a/{SLUG}")).text, "html.parser")
    stylesheet = soup.select_one('link[rel="stylesheet"]')
    icon = soup.select_one('link[rel="icon"]')
    assert stylesheet is not None and icon is not None
    addresses = [str(stylesheet["href"]), str(icon["href"])]
    addresses += [str(script["src"]) for script in soup.select("script[src]")]
    assert any("/vendor/htmx/" in address for address in addresses)
    for address in addresses:
        assert HASHED.match(address), address
        response = await anon.get(address)
        assert response.status_code == 200, address
        assert response.headers["cache-control"] == IMMUTABLE, address
    assert icon["type"] == "image/svg+xml"
    favicon = await anon.get(str(icon["href"]))
    assert favicon.headers["content-type"].startswith("image/svg+xml")
    assert BeautifulSoup(favicon.text, "html.parser").find("svg") is not None


async def test_unhashed_or_stale_addresses_are_revalidated_not_cached_for_a_year(
    anon: httpx.AsyncClient,
) -> None:
    for address in ("/static/forum.css", "/static/forum.css?v=000000000000"):
        response = await anon.get(address)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache", address
        again = await anon.get(address, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["cache-control"] == "no-cache"
