"""Which failures mean that a service the forum depends on (the database, the broker) cannot be
reached for a moment, so that the answer is 503 with Retry-After rather than a 500.

A restarted PostgreSQL drops every pooled connection and refuses new ones until it is up; the
pool opens fresh connections on the next request, so the forum recovers without a restart.
"""

from __future__ import annotations

import sqlite3

from tortoise.exceptions import DBConnectionError, OperationalError

#: What a 503 asks the client to wait before trying again, in seconds.
RETRY_AFTER_SECONDS = 5


def _unreachable_types() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [DBConnectionError, ConnectionError, TimeoutError]
    try:
        import asyncpg

        # Lost connections (class 08), and the server shutting down or still starting (57P0x).
        kinds += [asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError]
    except ImportError:  # installed without PostgreSQL support
        pass
    try:
        import redis

        kinds.append(redis.ConnectionError)
    except ImportError:
        pass
    return tuple(kinds)


_UNREACHABLE = _unreachable_types()
#: The exception types an app's handlers should catch to answer 503 (the ORM wraps some
#: connection failures in its OperationalError: is_outage looks at the cause).
OUTAGE_TYPES: tuple[type[BaseException], ...] = (*_UNREACHABLE, OperationalError)


def is_outage(exc: BaseException) -> bool:
    """Whether exc (or what caused it) says a database or broker could not be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return True
        if isinstance(current, sqlite3.OperationalError) and "unable to open" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
