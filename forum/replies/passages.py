"""Replies about passages of the article: how many readers see under each passage."""

from __future__ import annotations

from collections.abc import Iterable

from forum.db import select_rows
from forum.visibility import counted_replies_sql
from models import Reply


async def passage_counts(article_id: int, anchors: Iterable[str] | None = None) -> dict[str, int]:
    """Visible replies about each passage of the article (only passages that have some), in
    one grouped statement read from the (article, passage, status) index; only those anchors
    when given. Written by hand: every article page asks, and building it through the ORM
    cost more than running it."""
    counted, params = counted_replies_sql()
    # "> ''" rather than "not null": a range on the index's second column, so that only the
    # replies about some passage are read, not every reply of the article.
    sql = f"SELECT passage, COUNT(id) FROM {Reply._meta.db_table}"
    sql += f" WHERE article_id = ? AND passage > '' AND {counted}"
    params = [article_id, *params]
    if anchors is not None:
        wanted = list(anchors)
        if not wanted:
            return {}
        sql += f" AND passage IN ({', '.join('?' * len(wanted))})"
        params += wanted
    rows = await select_rows(Reply, sql + " GROUP BY passage", params)
    return {str(anchor): int(count) for anchor, count in rows}
