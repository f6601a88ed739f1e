"""The forum with the ASGI path of live frames switched off, for tests/test_live.py: every frame
a reader of this app receives was written directly by the hub's fan-out (forum/live/writer.py).

Served as `uvicorn tests.live_direct_only:app`; a frame that would take the ASGI path ends the
socket instead, and the test waiting for it fails.
"""

from __future__ import annotations

from forum.live.connection import ThreadConnection
from forum.live.hub import Delivery
from server import app

__all__ = ["app"]


async def _refuse(connection: ThreadConnection, delivery: Delivery) -> None:
    raise AssertionError(f"frame {delivery.seq} took the ASGI path")


ThreadConnection._send = _refuse  # type: ignore[method-assign]
