"""Per-user and moderator channels on the hub: suspensions close a user's pages, and the
moderators' flag queue updates live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from forum.live.hub import Delivery, Hub
from forum.live.render import FrameRenderer, encode_frame
from forum.notifications.service import unread_count
from models import Article, User

#: Moderators' pages that show the flag queue listen here.
MODERATION_CHANNEL = "moderation"
#: Close code for a socket whose user was suspended (docs/live.md): do not reconnect.
CLOSE_SUSPENDED = 4403


def user_channel(user_id: int) -> str:
    """The hub channel of one account (all its open pages)."""
    return f"user:{user_id}"


class LiveAccounts:
    """Publishes account events (forum.moderation.service.UserEvents) and queue changes."""

    def __init__(
        self, hub: Hub, renderer: FrameRenderer, render_queue: Callable[[], Awaitable[str]]
    ) -> None:
        self._hub = hub
        self._renderer = renderer
        self._render_queue = render_queue

    async def bell_changed(self, user_ids: list[int]) -> None:
        """Send each user's open pages their unread count."""
        for user in await User.filter(id__in=user_ids):
            delivery = self._renderer.bell(await unread_count(user))
            await self._hub.publish(user_channel(user.id), delivery)

    async def following_changed(self, user: User, article: Article, follows: bool) -> None:
        """Update the follow button on the user's other pages of the thread."""
        await self._hub.publish(user_channel(user.id), self._renderer.following(article, follows))

    async def suspended(self, user: User) -> None:
        """Tell the user's open pages they are suspended; their sockets then close."""
        frame = {"type": "suspended", "message": "Your account has been suspended."}
        delivery = Delivery(frames={"*": encode_frame(frame)}, close_code=CLOSE_SUSPENDED)
        await self._hub.publish(user_channel(user.id), delivery)

    async def flags_changed(self) -> None:
        """Send every open flag queue its new contents."""
        frame = {"type": "flags.changed", "content": await self._render_queue()}
        await self._hub.publish(MODERATION_CHANNEL, Delivery(frames={"*": encode_frame(frame)}))
