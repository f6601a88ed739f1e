"""The baseline for bench/page.py: a bare Starlette app with one HTML route.

It answers GET /page with a prebuilt page of about BASELINE_BYTES bytes, so the bench can tell
the cost of serving HTML over HTTP on this machine from the cost of the forum's own work.
Served by uvicorn like the forum: `uvicorn --app-dir bench baseline_app:app`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.config import Config
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

config = Config()
#: Size of the page to serve; the bench sets it to the size of the forum's page.
PAGE_BYTES = config("BASELINE_BYTES", cast=int, default=100_000)

_HEAD = '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>baseline</title></head>\n<body><main>\n'  # noqa: E501
_TAIL = "</main></body>\n</html>\n"
_BLOCK = (
    '<article class="reply" id="reply-{n}" data-depth="1" data-author="reader{n}">\n'
    '  <div class="reply-main"><header class="reply-meta"><span class="author">reader{n}</span>'
    '<a class="when" href="/r/{n}">2 hours ago</a></header>\n'
    '  <div class="reply-body"><p>A reply of ordinary length, number {n}, with a few words '
    "in it so that the page is made of text much like a thread.</p></div></div>\n"
    "</article>\n"
)


def build_page(size: int) -> bytes:
    """An HTML page of about size bytes, made of reply-like blocks."""
    parts = [_HEAD]
    length = len(_HEAD) + len(_TAIL)
    n = 0
    while length < size:
        block = _BLOCK.format(n=n)
        parts.append(block)
        length += len(block)
        n += 1
    parts.append(_TAIL)
    return "".join(parts).encode()


PAGE = build_page(PAGE_BYTES)


async def page(request: Request) -> Response:
    """The prebuilt page."""
    return HTMLResponse(PAGE)


app = Starlette(routes=[Route("/page", page)])
