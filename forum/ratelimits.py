"""Anti-abuse limits with the `limits` library: in memory by default, in Redis when the hub is,
so that they hold across server processes."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


class RateLimited(Exception):
    """Too many attempts; retry_after says when to try again (seconds)."""

    def __init__(self, field: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class LimitRules:
    """The limits in force, from the settings (each a `limits` string like "1/30 seconds")."""

    enabled: bool = True
    new_account_posts: str = "1/30 seconds"
    established_posts: str = "1/5 seconds"
    new_account_hours: int = 24
    #: The same text by the same author within this many seconds is refused as a duplicate.
    duplicate_window_seconds: int = 300
    login_per_ip: str = "20/minute"
    login_per_account: str = "5/minute"
    register_per_ip: str = "10/hour"
    #: Account mail (verification, reset, sign-in link) asked for per address typed (or
    #: account) and per client address.
    account_mail_per_address: str = "3/hour"
    account_mail_per_ip: str = "20/hour"
    #: Name suggestions (GET /api/users?prefix=) per member: enough for typing, not scraping.
    name_suggestions: str = "60/minute"
    #: Previews of a reply's Markdown per member (each renders and sanitises up to a full reply).
    previews: str = "60/minute"


class RateLimiter:
    """Checks and counts attempts against the configured limits."""

    def __init__(self, rules: LimitRules, broker_url: str, prefix: str = "forum") -> None:
        self.rules = rules
        # Under the hub's prefix (BROKER_PREFIX): forums sharing one Redis must not count each
        # other's attempts against their members.
        storage: Storage = (
            RedisStorage(broker_url, implementation="redispy", key_prefix=f"{prefix}:limits")
            if broker_url.startswith(("redis://", "rediss://"))
            else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._new_posts = parse(rules.new_account_posts)
        self._posts = parse(rules.established_posts)
        self._login_ip = parse(rules.login_per_ip)
        self._login_account = parse(rules.login_per_account)
        self._register_ip = parse(rules.register_per_ip)
        self._mail_address = parse(rules.account_mail_per_address)
        self._mail_ip = parse(rules.account_mail_per_ip)
        self._suggestions = parse(rules.name_suggestions)
        self._previews = parse(rules.previews)

    async def _hit(self, item: RateLimitItem, field: str, message: str, *keys: str) -> None:
        if not self.rules.enabled:
            return
        if not await self._limiter.hit(item, *keys):
            stats = await self._limiter.get_window_stats(item, *keys)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(field, message.format(seconds=retry_after), retry_after)

    async def check_post(self, user_id: int, account_age_hours: float) -> None:
        """Count a post by this account; RateLimited when it comes too soon after the last."""
        is_new = account_age_hours < self.rules.new_account_hours
        item = self._new_posts if is_new else self._posts
        await self._hit(
            item,
            "body",
            "You are posting too fast. Try again in {seconds} s.",
            "post",
            str(user_id),
        )

    async def check_preview(self, user_id: int) -> None:
        """Count a preview of a reply by this account; RateLimited past the limit."""
        message = "Too many previews. Try again in {seconds} s."
        await self._hit(self._previews, "body", message, "preview", str(user_id))

    async def check_login(self, ip: str, username_key: str) -> None:
        """Count a sign-in attempt per address and per account, keyed on the account name as
        the sign-in looks it up (forum.accounts.service.username_key): every spelling that
        reaches one account shares its attempts."""
        message = "Too many sign-in attempts. Try again in {seconds} s."
        await self._hit(self._login_ip, "password", message, "login-ip", ip)
        await self._hit(self._login_account, "password", message, "login-user", username_key)

    async def check_register(self, ip: str) -> None:
        """Count an account registered from this address."""
        message = "Too many new accounts from your address. Try again in {seconds} s."
        await self._hit(self._register_ip, "username", message, "register-ip", ip)

    async def check_account_mail(self, ip: str, key: str, field: str) -> None:
        """Count a request for account mail from this address about key (the login or address
        as typed, lower-cased, or "user:ID"): the answer is the same whether or not an account
        is behind key, so a 429 says nothing about who exists."""
        message = "Too many requests for mail. Try again in {seconds} s."
        await self._hit(self._mail_ip, field, message, "account-mail-ip", ip)
        await self._hit(self._mail_address, field, message, "account-mail", key)

    async def check_suggestions(self, user_id: int) -> None:
        """Count a request for name suggestions by this member."""
        message = "Too many name lookups. Try again in {seconds} s."
        await self._hit(self._suggestions, "prefix", message, "suggest", str(user_id))

    async def may_mail_account(self, user_id: int) -> bool:
        """Count a mail to this account and say whether it may go: however it is asked for
        (by name, by address, by each of several spellings), no inbox gets more than the
        per-address limit. Refused silently: the request's answer must not tell."""
        if not self.rules.enabled:
            return True
        return await self._limiter.hit(self._mail_address, "account-mail-user", str(user_id))
