"""The forum plus one route that always fails, for tests/test_security_headers.py: the 500 page
is sent from Starlette's outermost layer, outside the middleware that sets the security headers.

Served as `uvicorn tests.failing_app:app`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import app

__all__ = ["app"]


async def _fail(request: Request) -> Response:
    raise RuntimeError("a deliberate failure")


app.router.routes.append(Route("/fail", _fail))
app.router.routes.append(Route("/api/fail", _fail))
