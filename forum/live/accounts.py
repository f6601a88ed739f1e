"""Per-user and moderator channels on the hub: account changes close a user's sockets, and the
moderators' flag queue updates live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime

from forum.accounts.standing import is_suspended
from forum.live.hub import Delivery, Hub
from forum.live.render import FrameRenderer, encode_frame
from forum.notifications.service import unread_counts
from forum.visibility import viewer_kind
from models import Article, Session, User

log = logging.getLogger("forum.live")

#: What an open socket was allowed to see when it opened: its account, session and viewer kind.
SocketView = tuple[int, int | None, str]

#: Moderators' pages that show the flag queue listen here.
MODERATION_CHANNEL = "moderation"
#: Close codes of a socket whose account changed (docs/live.md). Each is sent after a frame
#: {"type": "account", "reason": ...} and before any other frame.
#: The session ended (signed out, expired, account gone): reconnect as who you are now.
CLOSE_SIGNED_OUT = 4401
#: The account was suspended (or is, at the handshake): do not reconnect.
CLOSE_SUSPENDED = 4403
#: What the account may see changed (a role given or taken): reconnect to get the new view.
CLOSE_ACCESS_CHANGED = 4409
#: The codes above: a socket stops forwarding anything the moment one reaches it.
ACCOUNT_CLOSE_CODES = frozenset({CLOSE_SIGNED_OUT, CLOSE_SUSPENDED, CLOSE_ACCESS_CHANGED})


def user_channel(user_id: int) -> str:
    """The hub channel of one account (all its open pages)."""
    return f"user:{user_id}"


def account_closing(code: int, message: str, session_id: int | None = None) -> Delivery:
    """The delivery that tells an account's sockets (or one session's) why they close."""
    frame = {"type": "account", "reason": code, "message": message}
    if code == CLOSE_SUSPENDED:
        frame["type"] = "suspended"
    return Delivery(frames={"*": encode_frame(frame)}, close_code=code, session_id=session_id)


class LiveAccounts:
    """Publishes account events (forum.moderation.service.UserEvents) and queue changes."""

    def __init__(
        self, hub: Hub, renderer: FrameRenderer, render_queue: Callable[[], Awaitable[str]]
    ) -> None:
        self._hub = hub
        self._renderer = renderer
        self._render_queue = render_queue
        #: The views of this process's open signed-in sockets (how many of each).
        self._open: Counter[SocketView] = Counter()

    @contextlib.contextmanager
    def watching(self, user: User, session: Session | None) -> Iterator[None]:
        """Count a signed-in socket's view while it is open, for check_open_views."""
        view = (user.id, session.id if session else None, viewer_kind(user))
        self._open[view] += 1
        try:
            yield
        finally:
            self._open[view] -= 1
            if not self._open[view]:
                del self._open[view]

    async def check_open_views(self) -> int:
        """Close the sockets whose account changed without a notice reaching them (a role set
        from the command line, a session that expired or was deleted, a suspension written
        elsewhere); returns how many notices went out. Changes made through the app send
        their notice at once; this is the safety net, run every LIVE_ACCOUNT_CHECK_SECONDS."""
        views = list(self._open)
        if not views:
            return 0
        users = {u.id: u for u in await User.filter(id__in={view[0] for view in views})}
        session_ids = {view[1] for view in views if view[1] is not None}
        live_sessions = set(
            await Session.filter(id__in=session_ids, expires_at__gt=datetime.now(UTC)).values_list(
                "id", flat=True
            )
        )
        sent = 0
        for user_id, session_id, kind in views:
            user = users.get(user_id)
            if user is None or (session_id is not None and session_id not in live_sessions):
                await self.session_ended(user_id, session_id)
            elif is_suspended(user):
                await self.suspended(user.id)
            elif viewer_kind(user) != kind:
                await self.access_changed(user_id)
            else:
                continue
            sent += 1
        return sent

    async def run_checks(self, every_seconds: float) -> None:
        """check_open_views forever, every so many seconds (a task of the server's lifespan)."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await self.check_open_views()
            except Exception:
                log.exception("could not check the open sockets' accounts")

    async def bell_changed(self, user_ids: Iterable[int]) -> None:
        """Send each user's open pages their unread count."""
        # Counted only for users with a page open (in any process, as the hub can tell): a
        # thread's followers are told of every post, and counting for nobody was most of a
        # post's cost. A page that opens later renders its count itself.
        listening = {
            user_id for user_id in set(user_ids) if await self._hub.listened(user_channel(user_id))
        }
        if not listening:
            return
        for user_id, unread in (await unread_counts(listening)).items():
            await self._hub.publish(user_channel(user_id), self._renderer.bell(unread))

    async def following_changed(self, user_id: int, article_id: int, follows: bool) -> None:
        """Update the follow button on the user's other pages of the thread."""
        article = await Article.get(id=article_id).only("id", "slug")
        await self._hub.publish(user_channel(user_id), self._renderer.following(article, follows))

    async def mute_changed(self, user_id: int, member_id: int, muted: bool) -> None:
        """The user muted or unmuted a member: tell the user's open pages."""
        member = await User.get_or_none(id=member_id).only("id", "username")
        if member is not None:
            await self._hub.publish(user_channel(user_id), self._renderer.mute(member, muted))

    async def suspended(self, user_id: int) -> None:
        """Tell the user's open pages they are suspended; their sockets then close."""
        delivery = account_closing(CLOSE_SUSPENDED, "Your account has been suspended.")
        await self._hub.publish(user_channel(user_id), delivery)

    async def access_changed(self, user_id: int) -> None:
        """The account's role changed: its sockets close, and reconnect with the view it has."""
        message = "Your role changed: reload the page to see it as you are now."
        await self._hub.publish(
            user_channel(user_id), account_closing(CLOSE_ACCESS_CHANGED, message)
        )

    async def session_ended(self, user_id: int, session_id: int | None = None) -> None:
        """A session ended (or all of the account's, with session_id None): its sockets close."""
        message = "You have been signed out: sign in again to reply."
        delivery = account_closing(CLOSE_SIGNED_OUT, message, session_id)
        await self._hub.publish(user_channel(user_id), delivery)

    async def flags_changed(self) -> None:
        """Send every open flag queue its new contents."""
        frame = {"type": "flags.changed", "content": await self._render_queue()}
        await self._hub.publish(MODERATION_CHANNEL, Delivery(frames={"*": encode_frame(frame)}))
