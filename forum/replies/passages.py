"""Replies about passages of the article: how many readers see under each passage."""

from __future__ import annotations

from collections.abc import Iterable

from tortoise.functions import Count

from forum.visibility import counted_replies
from models import Reply


async def passage_counts(article_id: int, anchors: Iterable[str] | None = None) -> dict[str, int]:
    """Visible replies about each passage of the article (only passages that have some), in
    one grouped statement read from the (article, passage, status) index; only those anchors
    when given."""
    # "> ''" rather than "not null": a range on the index's second column, so that only the
    # replies about some passage are read, not every reply of the article.
    query = Reply.filter(counted_replies(), article_id=article_id, passage__gt="")
    if anchors is not None:
        query = query.filter(passage__in=list(anchors))
    rows = (
        await query.annotate(count=Count("id")).group_by("passage").values_list("passage", "count")
    )
    return {str(anchor): int(count) for anchor, count in rows}
