"""The image proxy route: a reply's image, fetched by the forum so readers never ask its origin."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from forum.errors import NotFound
from forum.images.fetcher import ImageRefused

log = logging.getLogger("forum.images")

#: Browsers may keep a proxied image this long (the address is signed and stays the same).
CACHE_CONTROL = "public, max-age=86400"


async def proxy(request: Request) -> Response:
    """GET /img/{signature}/{encoded}: the image the forum signed this path for (404 otherwise,
    502 when it cannot be fetched or is not a PNG, JPEG, GIF or WebP within the limits)."""
    url = request.app.state.images.target(
        request.path_params["signature"], request.path_params["encoded"]
    )
    if url is None:
        raise NotFound("There is nothing at this address.")
    try:
        image = await request.app.state.image_fetcher.get(url)
    except ImageRefused as refused:
        log.info("image proxy refused %s: %s", url, refused)
        # Nothing about why: the reader's browser only needs to know there is no image.
        return Response(status_code=502, headers={"Cache-Control": "no-store"})
    return Response(
        image.body,
        media_type=image.content_type,
        headers={"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )
