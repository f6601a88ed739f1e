"""Hub backends, chosen by BROKER_URL: memory:// (one process) or redis:// (many)."""

from __future__ import annotations

from forum.live.backends.base import Backend, MessageHandler


def backend_for(url: str, prefix: str = "forum") -> Backend:
    """The backend for a broker URL; Redis is imported only when asked for. prefix keeps one
    forum's Redis channels apart from another's on the same server."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        from forum.live.backends.memory import MemoryBackend

        return MemoryBackend()
    if scheme in ("redis", "rediss"):
        from forum.live.backends.redis import RedisBackend

        return RedisBackend(url, prefix)
    raise ValueError(f"BROKER_URL must be memory:// or redis://..., not {url!r}")


__all__ = ["Backend", "MessageHandler", "backend_for"]
