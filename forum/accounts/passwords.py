"""Password hashing with argon2id at OWASP's recommended cost, off the event loop."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")


async def hash_password(password: str) -> str:
    """Hash a password (argon2id, PHC string)."""
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when password matches; with no hash, spend the same time and say no."""
    try:
        return (
            await anyio.to_thread.run_sync(_hasher.verify, password_hash or _DUMMY_HASH, password)
            and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False
