"""What a new reply sets off after commit: bells update live, the mail sender wakes up."""

from __future__ import annotations

from dataclasses import dataclass

from forum.live.accounts import LiveAccounts
from forum.notifications.sender import MailSender


@dataclass
class AppNotifier:
    """The app's forum.notifications.service.Notifier."""

    accounts: LiveAccounts
    sender: MailSender | None
    coalesce_seconds: int

    async def notified(self, user_ids: list[int]) -> None:
        """Update the bells of the users just notified and let the sender look at the outbox."""
        if not user_ids:
            return
        await self.accounts.bell_changed(user_ids)
        if self.sender is not None:
            self.sender.wake.set()
