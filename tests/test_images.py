"""Images in replies never load from another site: links by default (REPLY_IMAGES=link), or the
forum's own signed, limited image proxy (REPLY_IMAGES=proxy), fetching from a real local server."""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import pytest_asyncio
from bs4 import BeautifulSoup

from forum.images.fetcher import ImageFetcher, ImageRefused
from tests.conftest import (
    SLUG,
    LiveServer,
    Member,
    scratch_database,
    sign_up,
    start_server,
    stop_server,
)

#: A real 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
#: What the local image server answers: path -> (content type, body).
FILES: dict[str, tuple[str, bytes]] = {
    "/pixel.png": ("image/png", PIXEL),
    "/big.png": ("image/png", PIXEL + b"\0" * (3 * 1024 * 1024)),
    "/page.html": ("text/html", b"<!doctype html><p>Not an image"),
    "/logo.svg": ("image/svg+xml", SVG),
    "/liar.png": ("image/png", b"<!doctype html><p>Not an image either"),
}


class _ImageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        redirects = {
            "/moved.png": "/pixel.png",
            "/to-localhost.png": f"http://localhost:{port}/pixel.png",
        }
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.end_headers()
            return
        if self.path not in FILES:
            self.send_error(404)
            return
        content_type, body = FILES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        # /big.png says nothing of its size: the proxy must count while it reads.
        if self.path != "/big.png":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_origin() -> Iterator[str]:
    """Another site serving images (and things that are not images) on 127.0.0.1."""
    origin = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    thread = threading.Thread(target=origin.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{origin.server_address[1]}"
    origin.shutdown()
    origin.server_close()


def foreign_images(html: str) -> list[str]:
    """The src of every <img> that does not point at the forum itself."""
    sources = [str(img.get("src", "")) for img in BeautifulSoup(html, "html.parser").select("img")]
    return [src for src in sources if not src.startswith("/") or src.startswith("//")]


# REPLY_IMAGES=link (the default) ----------------------------------------------------------------


async def test_an_image_in_a_reply_becomes_a_link_everywhere(
    server: LiveServer, member: Member, image_origin: str
) -> None:
    image = f"{image_origin}/pixel.png"
    posted = await member.post_reply(f"Look: ![a tracking pixel]({image})")
    assert posted.status_code == 201
    reply = posted.json()
    pages = {
        "api": reply["body_html"],
        "api get": (await member.client.get(f"/api/replies/{reply['id']}")).json()["body_html"],
        "page": (await member.client.get(f"/a/{SLUG}")).text,
        "permalink": (await member.client.get(f"/a/{SLUG}/r/{reply['id']}")).text,
    }
    fragment = await member.client.post(
        f"/a/{SLUG}/replies",
        data={"body": f"Again ![pixel two]({image})", "csrf_token": member.csrf},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 201
    pages["fragment"] = fragment.text
    for name, html in pages.items():
        assert foreign_images(html) == [], name
        links = BeautifulSoup(html, "html.parser").select("a[href]")
        assert image in [link.get("href") for link in links], name
    link = BeautifulSoup(reply["body_html"], "html.parser").select_one("a")
    assert link is not None
    assert link.get("href") == image
    assert link.get_text() == "image: a tracking pixel"
    assert set(link.get("rel") or []) == {"nofollow", "ugc", "noopener", "noreferrer"}


async def test_an_edit_turns_a_new_image_into_a_link(member: Member, image_origin: str) -> None:
    posted = await member.post_reply("No image yet.")
    edited = await member.client.patch(
        f"/api/replies/{posted.json()['id']}",
        json={"body": f"Now ![one]({image_origin}/pixel.png)"},
        headers=member.headers(),
    )
    assert edited.status_code == 200
    assert foreign_images(edited.json()["body_html"]) == []
    assert "image: one" in BeautifulSoup(edited.json()["body_html"], "html.parser").get_text()


async def test_the_proxy_is_off_in_link_mode(anon: httpx.AsyncClient) -> None:
    encoded = base64.urlsafe_b64encode(b"https://example.com/p.png").decode().rstrip("=")
    assert (await anon.get(f"/img/anything/{encoded}")).status_code == 404


# REPLY_IMAGES=proxy ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The forum with the image proxy on, allowed to fetch from 127.0.0.1 (the test's images)."""
    folder = tmp_path_factory.mktemp("proxy")
    with scratch_database(folder) as database:
        process, live = start_server(
            database, folder, REPLY_IMAGES="proxy", IMAGE_PROXY_ALLOW_PRIVATE="true"
        )
        try:
            yield live
        finally:
            stop_server(process)


@pytest_asyncio.fixture
async def proxy_member(proxy_server: LiveServer) -> AsyncIterator[Member]:
    """A signed-in member of the proxying forum."""
    someone = await sign_up(proxy_server)
    yield someone
    await someone.client.aclose()


async def proxied_src(member: Member, url: str) -> str:
    """Post a reply showing the image at url; the src its <img> was given."""
    posted = await member.post_reply(f"![an image]({url})")
    assert posted.status_code == 201, posted.text
    images = BeautifulSoup(posted.json()["body_html"], "html.parser").select("img")
    assert len(images) == 1
    return str(images[0]["src"])


async def test_the_proxy_serves_the_image_from_its_origin(
    proxy_member: Member, image_origin: str
) -> None:
    src = await proxied_src(proxy_member, f"{image_origin}/pixel.png")
    assert src.startswith("/img/")
    page = await proxy_member.client.get(f"/a/{SLUG}")
    assert foreign_images(page.text) == []
    assert src in [img.get("src") for img in BeautifulSoup(page.text, "html.parser").select("img")]
    for _ in range(2):  # fetched, then from the cache
        served = await proxy_member.client.get(src)
        assert served.status_code == 200
        assert served.content == PIXEL
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "max-age=" in served.headers["cache-control"]
    moved = await proxy_member.client.get(
        await proxied_src(proxy_member, f"{image_origin}/moved.png")
    )
    assert (moved.status_code, moved.content) == (200, PIXEL)


async def test_a_tampered_proxy_address_is_not_found(
    proxy_member: Member, image_origin: str
) -> None:
    src = await proxied_src(proxy_member, f"{image_origin}/pixel.png")
    _, _, signature, encoded = src.split("/")
    other = base64.urlsafe_b64encode(f"{image_origin}/page.html".encode()).decode().rstrip("=")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for path in (
        f"/img/{flipped}/{encoded}",
        f"/img/{signature}/{other}",
        f"/img/{signature}/{encoded}x",
        f"/img/{signature}/%%%",
        f"/img//{encoded}",
    ):
        assert (await proxy_member.client.get(path)).status_code == 404, path


@pytest.mark.parametrize("path", ["/big.png", "/page.html", "/logo.svg", "/liar.png", "/gone.png"])
async def test_the_proxy_refuses_what_is_not_a_small_image(
    proxy_member: Member, image_origin: str, path: str
) -> None:
    src = await proxied_src(proxy_member, f"{image_origin}{path}")
    refused = await proxy_member.client.get(src)
    assert refused.status_code == 502
    assert refused.content == b""
    assert "image" not in refused.headers.get("content-type", "")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/pixel.png",
        "http://localhost/pixel.png",
        "http://[::1]/pixel.png",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/pixel.png",
        "http://[::ffff:127.0.0.1]/pixel.png",
        "ftp://example.com/pixel.png",
    ],
)
async def test_without_the_test_setting_private_addresses_are_never_fetched(url: str) -> None:
    # Refused before any connection is made: no server needs to listen there.
    with pytest.raises(ImageRefused):
        await ImageFetcher().get(url)


class _TrustingLoopbackLiteral(ImageFetcher):
    """Takes the literal 127.0.0.1 for a public site, so that a redirect's hop can be tried."""

    async def _public_address(self, host: str, port: int) -> str:
        return host if host == "127.0.0.1" else await super()._public_address(host, port)


async def test_each_redirect_hop_is_checked_again(image_origin: str) -> None:
    fetcher = _TrustingLoopbackLiteral()
    image = await fetcher.get(f"{image_origin}/moved.png")
    assert image.body == PIXEL
    # The same image, but by way of "localhost": a private address, refused.
    with pytest.raises(ImageRefused):
        await fetcher.get(f"{image_origin}/to-localhost.png")
