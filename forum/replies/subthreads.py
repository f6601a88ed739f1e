"""What the thread statement (forum.replies.thread) adds for reading deep threads: how many
replies lie below each reply at the preview's edge ("continue this thread" counts them all),
and who wrote each reply's parent ("replying to @name" past the indent limit)."""

from __future__ import annotations

from forum.db import model_from_row
from forum.visibility import shows_body, thread_rows_sql
from models import Reply, User

#: Columns about a reply's parent that a statement adds with PARENT_SELECT and PARENT_JOIN.
PARENT_COLUMNS = ["parent_status", "parent_author_id", "parent_username"]
PARENT_SELECT = (
    ", p.status AS parent_status, p.author_id AS parent_author_id, pu.username AS parent_username"
)
PARENT_JOIN = " LEFT JOIN replies p ON p.id = r.parent_id LEFT JOIN users pu ON pu.id = p.author_id"


def below_edge_ctes(edge: str, viewer: User | None) -> tuple[str, list[object]]:
    """Two more common table expressions for a WITH RECURSIVE clause, and their parameters:
    `below` walks down from the replies of the CTE named edge, one level at a time by parent
    (the (parent_id, id) index), keeping the rows viewer may see; `below_count` counts them per
    edge reply (root, replies). The cost follows the subthreads' size, not the thread's."""
    anchor, anchor_params = thread_rows_sql(viewer, "c")
    step, step_params = thread_rows_sql(viewer, "c")
    sql = (
        "below(root, id) AS ("
        f"SELECT c.parent_id, c.id FROM replies c WHERE c.parent_id IN (SELECT id FROM {edge})"
        f" AND {anchor}"
        " UNION ALL"
        f" SELECT below.root, c.id FROM below JOIN replies c ON c.parent_id = below.id WHERE {step}"
        "), below_count(root, replies) AS (SELECT root, COUNT(*) FROM below GROUP BY root)"
    )
    return sql, [*anchor_params, *step_params]


def parent_author(row: Reply, viewer: User | None) -> str | None:
    """The name of the author of row's parent, read by the statement that read row (with
    PARENT_SELECT), when viewer may see who wrote it (forum.visibility.shows_body)."""
    extra = vars(row)
    if extra.get("parent_status") is None:
        return None
    parent = model_from_row(
        Reply, id=row.parent_id, status=extra["parent_status"], author_id=extra["parent_author_id"]
    )
    return str(extra["parent_username"]) if shows_body(parent, viewer) else None
