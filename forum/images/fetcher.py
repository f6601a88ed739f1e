"""Fetching a reply's image for the proxy, carefully, and keeping recent ones in memory.

An image address comes from a reader, so the fetch assumes the worst: only http and https; only
public addresses (each hop of a redirect checked again, and the connection made to the very
address that was checked, so a DNS answer cannot change in between); at most MAX_BYTES, counted
while reading; the whole fetch within TIMEOUT_SECONDS; and only PNG, JPEG, GIF or WebP, by the
declared type and by the bytes themselves (never SVG, which can carry script).

The cache is in memory, per process, bounded by total bytes and by age: the forum keeps no
files for it and several workers each keep their own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx

log = logging.getLogger("forum.images")

ALLOWED_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_BYTES = 2 * 1024 * 1024
TIMEOUT_SECONDS = 5.0
MAX_REDIRECTS = 3
CACHE_BYTES = 32 * 1024 * 1024
CACHE_SECONDS = 24 * 3600


class ImageRefused(Exception):
    """The image could not be fetched, or is not one the forum will serve."""


@dataclass(frozen=True)
class Image:
    """A fetched image: its type (from its own bytes) and the bytes."""

    content_type: str
    body: bytes
    fetched_at: float


def sniffed_type(data: bytes) -> str | None:
    """The image type the bytes themselves show, among ALLOWED_TYPES; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not private, loopback, link-local,
    shared, reserved or multicast), looking through IPv4-mapped IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class ImageCache:
    """Recently fetched images, least recently used first out, within a byte budget."""

    def __init__(self, max_bytes: int = CACHE_BYTES, max_age: float = CACHE_SECONDS) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._images: OrderedDict[str, Image] = OrderedDict()
        self._size = 0

    def get(self, url: str) -> Image | None:
        """The image fetched from url, unless it is not cached or too old."""
        image = self._images.get(url)
        if image is None:
            return None
        if time.monotonic() - image.fetched_at > self.max_age:
            self._drop(url)
            return None
        self._images.move_to_end(url)
        return image

    def put(self, url: str, image: Image) -> None:
        """Keep the image, making room by dropping the least recently used."""
        if url in self._images:
            self._drop(url)
        self._images[url] = image
        self._size += len(image.body)
        while self._size > self.max_bytes and self._images:
            self._drop(next(iter(self._images)))

    def _drop(self, url: str) -> None:
        self._size -= len(self._images.pop(url).body)


class ImageFetcher:
    """Fetches images for the proxy within the limits above, through an ImageCache."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        max_bytes: int = MAX_BYTES,
        timeout: float = TIMEOUT_SECONDS,
        cache: ImageCache | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.cache = cache or ImageCache()

    async def get(self, url: str) -> Image:
        """The image at url, from the cache or fetched now; ImageRefused otherwise."""
        image = self.cache.get(url)
        if image is None:
            image = await self._fetch_safely(url)
            self.cache.put(url, image)
        return image

    async def _fetch_safely(self, url: str) -> Image:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._fetch(url)
        except ImageRefused:
            raise
        except (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError, ValueError) as error:
            raise ImageRefused(f"{type(error).__name__}: {error}") from None
        except Exception as error:
            # A proxied image is never worth a 500: refuse it, but leave a trace of the cause.
            log.exception("unexpected failure fetching an image")
            raise ImageRefused(type(error).__name__) from None

    async def _fetch(self, url: str) -> Image:
        # No environment proxies (the connection must go to the address checked), no cookies.
        async with httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, trust_env=False
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                request = await self._request(client, httpx.URL(url))
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        url = str(httpx.URL(url).join(response.headers.get("location", "")))
                        continue
                    return await self._read(response)
                finally:
                    await response.aclose()
        raise ImageRefused("too many redirects")

    async def _request(self, client: httpx.AsyncClient, url: httpx.URL) -> httpx.Request:
        """The GET for url, sent to the public address its host resolves to."""
        if url.scheme not in ("http", "https") or not url.host:
            raise ImageRefused(f"not a web address: {url}")
        headers = {
            "Accept": ", ".join(sorted(ALLOWED_TYPES)),
            # Compressed bodies could grow past MAX_BYTES in one step; images are compressed.
            "Accept-Encoding": "identity",
            "User-Agent": "forum-image-proxy",
        }
        if self.allow_private:
            return client.build_request("GET", url, headers=headers)
        address = await self._public_address(url.host, url.port or _default_port(url.scheme))
        headers["Host"] = url.netloc.decode("ascii")
        # TLS still checks the certificate against the name, sent as SNI.
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        return client.build_request(
            "GET", url.copy_with(host=address), headers=headers, extensions=extensions
        )

    async def _public_address(self, host: str, port: int) -> str:
        """One address of host, if all its addresses are public; ImageRefused otherwise."""
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(answer[4][0]) for answer in answers]
        if not addresses or not all(is_public(address) for address in addresses):
            raise ImageRefused(f"{host} is not a public address")
        return addresses[0]

    async def _read(self, response: httpx.Response) -> Image:
        """The body of an image response within the limits; ImageRefused for anything else."""
        if response.status_code != 200:
            raise ImageRefused(f"status {response.status_code}")
        declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if declared not in ALLOWED_TYPES:
            raise ImageRefused(f"not an image the forum serves: {declared!r}")
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise ImageRefused("compressed despite Accept-Encoding: identity")
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise ImageRefused(f"larger than {self.max_bytes} bytes")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                raise ImageRefused(f"larger than {self.max_bytes} bytes")
        actual = sniffed_type(bytes(body))
        if actual is None:
            raise ImageRefused(f"the bytes are not a {declared}")
        return Image(actual, bytes(body), time.monotonic())


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
