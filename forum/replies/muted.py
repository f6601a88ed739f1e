"""Replies by members the viewer muted are shown collapsed: which nodes of a page those are."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from forum.accounts.muting import muted_ids
from forum.replies.thread import ReplyNode
from models import User


def _walk(nodes: Iterable[ReplyNode]) -> Iterator[ReplyNode]:
    for node in nodes:
        yield node
        yield from _walk(node.children)


async def mark_muted(nodes: Iterable[ReplyNode], viewer: User | None) -> None:
    """Set node.muted on these nodes and those under them whose author viewer muted (one query;
    none for a visitor). Stubs show no author, so there is nothing to collapse."""
    muted = await muted_ids(viewer)
    if not muted:
        return
    for node in _walk(nodes):
        node.muted = node.shows_body and node.reply.author_id in muted
