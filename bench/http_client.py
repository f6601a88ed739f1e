"""A light HTTP/1.1 keep-alive client for the write bench's posters.

The bench and the servers it measures share this machine's two cores. httpx spends about 2 ms of
CPU per request, more than the forum spends answering one, so at a few hundred posts/s the client
took most of a core from the server under test and the figures measured the client. This one
writes each request's bytes by hand and parses the answer with httptools (uvicorn's own parser,
in C), about a tenth of that; every server in the bench gets the same client.

One connection per poster, reused while the server keeps it alive (a server answering
"Connection: close" gets a new one for the next request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlencode, urlsplit

import httptools


class _Answer:
    """httptools' callbacks for one response: its body, and whether it is complete."""

    __slots__ = ("body", "complete")

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class KeepAliveClient:
    """POSTs JSON to one server over one kept-alive connection, with fixed extra headers."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        address = urlsplit(base_url)
        self._host = address.hostname or "127.0.0.1"
        self._port = address.port or 80
        fixed = {"Host": address.netloc, **(headers or {})}
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(
        self, path: str, payload: object, params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """POST payload as JSON to path (with params as its query); the status and body."""
        body = json.dumps(payload).encode()
        target = f"{path}?{urlencode(params)}" if params else path
        head = (
            f"POST {target} HTTP/1.1\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(head.encode() + body)
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        while not answer.complete:
            data = await self._reader.read(65536)
            if not data:
                await self.aclose()
                raise ConnectionError("the server closed the connection mid-answer")
            parser.feed_data(data)
        if not parser.should_keep_alive():
            await self.aclose()
        return parser.get_status_code(), bytes(answer.body)

    async def aclose(self) -> None:
        """Close the connection (the next request opens another)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
