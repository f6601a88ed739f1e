"""Per-user and moderator channels on the hub: suspensions close a user's pages, and the
moderators' flag queue updates live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from forum.live.hub import Delivery, Hub
from forum.live.render import encode_frame
from models import User

#: Moderators' pages that show the flag queue listen here.
MODERATION_CHANNEL = "moderation"
#: Close code for a socket whose user was suspended (docs/live.md): do not reconnect.
CLOSE_SUSPENDED = 4403


def user_channel(user_id: int) -> str:
    """The hub channel of one account (all its open pages)."""
    return f"user:{user_id}"


class LiveAccounts:
    """Publishes account events (forum.moderation.service.UserEvents) and queue changes."""

    def __init__(self, hub: Hub, render_queue: Callable[[], Awaitable[str]]) -> None:
        self._hub = hub
        self._render_queue = render_queue

    async def suspended(self, user: User) -> None:
        """Tell the user's open pages they are suspended; their sockets then close."""
        frame = {"type": "suspended", "message": "Your account has been suspended."}
        await self._hub.publish(user_channel(user.id), Delivery(frames={"*": encode_frame(frame)}))

    async def flags_changed(self) -> None:
        """Send every open flag queue its new contents."""
        frame = {"type": "flags.changed", "content": await self._render_queue()}
        await self._hub.publish(MODERATION_CHANNEL, Delivery(frames={"*": encode_frame(frame)}))
