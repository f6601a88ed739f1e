"""Muting: a member mutes another, whose replies are then collapsed for them (page, fragments,
live frames) and whose replies notify them no more (forum.notifications asks muters_of where
it creates notification rows, for every kind of notification).

One row per pair, enforced by the table's unique (user, muted): muting twice (or twice at
once) changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from forum.accounts.service import username_key
from forum.accounts.standing import require_active
from forum.errors import NotFound
from forum.event_types import MuteChanged
from forum.events import EventBus
from forum.validation import ValidationError
from models import MailStatus, Mute, OutboxItem, User

NOT_A_MEMBER = "There is no member of that name."
NOT_YOURSELF = "You cannot mute yourself."


@dataclass(frozen=True)
class MutedMember:
    """One member the account muted, and since when."""

    username: str
    since: datetime


async def _member(name: object) -> User:
    """The live account of this name; NotFound otherwise (deleted accounts have no name)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 30:
        raise NotFound(NOT_A_MEMBER)
    member = await User.get_or_none(username_key=username_key(name), deleted_at=None)
    if member is None:
        raise NotFound(NOT_A_MEMBER)
    return member


async def mute(user: User | None, name: object, *, bus: EventBus) -> User:
    """Mute the member of this name (again: nothing changes); the member muted.
    NotFound for no such member, ValidationError for oneself."""
    muter = require_active(user)
    member = await _member(name)
    if member.id == muter.id:
        raise ValidationError({"username": NOT_YOURSELF})
    try:
        async with bus.transaction() as tx:
            if not await Mute.exists(user_id=muter.id, muted_id=member.id):
                await Mute.create(user_id=muter.id, muted_id=member.id)
                await _cancel_pending_mail(muter.id, member.id)
                await tx.emit(MuteChanged(user_id=muter.id, muted_id=member.id, muted=True))
    except IntegrityError:
        pass  # muted at the same moment by another request: the pair's unique key kept one
    return member


async def _cancel_pending_mail(user_id: int, member_id: int) -> None:
    """Mail about the member's replies still waiting for its window (coalesced) does not go."""
    pending = await OutboxItem.filter(
        recipient_id=user_id, status=MailStatus.PENDING, reply__author_id=member_id
    ).values_list("id", flat=True)
    if pending:
        await OutboxItem.filter(id__in=list(pending)).update(status=MailStatus.CANCELLED)


async def unmute(user: User | None, name: object, *, bus: EventBus) -> User:
    """Take a mute back (without one, nothing changes); the member. NotFound for no such
    member."""
    muter = require_active(user)
    member = await _member(name)
    async with bus.transaction() as tx:
        if await Mute.filter(user_id=muter.id, muted_id=member.id).delete():
            await tx.emit(MuteChanged(user_id=muter.id, muted_id=member.id, muted=False))
    return member


async def muted_members(user: User) -> list[MutedMember]:
    """Whom the account muted, by name (for the settings page, the API and the export)."""
    rows = (
        await Mute.filter(user_id=user.id, muted__deleted_at=None)
        .order_by("muted__username_key")
        .select_related("muted")
    )
    return [MutedMember(row.muted.username, row.created_at) for row in rows]


async def muted_ids(user: User | None) -> frozenset[int]:
    """The ids of the members user muted (none for a visitor)."""
    if user is None:
        return frozenset()
    rows = await Mute.filter(user_id=user.id).values_list("muted_id", flat=True)
    return frozenset(int(row) for row in rows)  # type: ignore[call-overload]


async def is_muted(viewer: User | None, member: User) -> bool:
    """Whether viewer muted member."""
    if viewer is None:
        return False
    return await Mute.exists(user_id=viewer.id, muted_id=member.id)


async def muters_of(author_id: int) -> set[int]:
    """Who muted this author: no notification of theirs reaches them."""
    rows = await Mute.filter(muted_id=author_id).values_list("user_id", flat=True)
    return {int(row) for row in rows}  # type: ignore[call-overload]


async def muted_among(author_ids: Iterable[int]) -> set[int]:
    """Which of these authors someone muted (live frames render a collapsed copy for them)."""
    ids = set(author_ids)
    if not ids:
        return set()
    rows = await Mute.filter(muted_id__in=ids).distinct().values_list("muted_id", flat=True)
    return {int(row) for row in rows}  # type: ignore[call-overload]


async def forget_mutes_of(user_id: int) -> None:
    """A deleted account's mutes go both ways: whom it muted, and who muted it."""
    await Mute.filter(user_id=user_id).delete()
    await Mute.filter(muted_id=user_id).delete()
