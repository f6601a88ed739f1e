"""The one place that decides who may see which reply.

Every output path (thread page, htmx fragments, JSON API, live events and their replays, and
later feeds and emails) asks these functions; none filters on its own.

- A visible reply is seen by everyone.
- A reply its author deleted is kept only while it has replies under it, as a "[deleted]" stub.
- A reply hidden by a moderator is seen whole by moderators (marked hidden, with the reason) and
  by its author (marked hidden); everyone else sees a "removed" stub if it has replies under it,
  and nothing at all otherwise.
"""

from __future__ import annotations

import copy
from typing import Any

from tortoise.expressions import Q

from forum.accounts.standing import is_moderator
from models import Reply, ReplyStatus, Role, User

#: Kinds of viewer that see a thread differently; live events are rendered once per kind, plus
#: once for the author of a hidden reply.
READER, MODERATOR = "reader", "moderator"
VIEWER_KINDS = (READER, MODERATOR)
#: The status of the replies that reply counts count (the article's stored count included).
COUNTED_STATUS = ReplyStatus.VISIBLE


def viewer_kind(viewer: User | None) -> str:
    """Which kind of viewer this is, for choosing the live frame rendered for that kind."""
    return MODERATOR if is_moderator(viewer) else READER


def representative_viewer(kind: str) -> User | None:
    """A viewer standing for everyone of that kind when rendering once for all of them."""
    if kind == MODERATOR:
        return User(id=0, username="", username_key="", role=Role.MODERATOR)
    return None


def _thread_rules(viewer: User | None) -> list[dict[str, Any]] | None:
    """The rows of viewer's thread as alternatives of field lookups; None for every row.

    Written once as data so that the ORM form (thread_rows) and the SQL form
    (thread_rows_sql) cannot disagree.
    """
    if is_moderator(viewer):
        return None
    rules: list[dict[str, Any]] = [
        {"status__in": [ReplyStatus.VISIBLE.value, ReplyStatus.DELETED.value]},
        {"status": ReplyStatus.HIDDEN.value, "has_replies": True},
    ]
    if viewer is not None:
        rules.append({"status": ReplyStatus.HIDDEN.value, "author_id": viewer.id})
    return rules


def thread_rows(viewer: User | None) -> Q:
    """Replies that may appear in viewer's thread at all, either whole or as a stub."""
    rules = _thread_rules(viewer)
    if rules is None:
        return Q()
    return Q(*[Q(**rule) for rule in rules], join_type=Q.OR)


def in_thread(reply: Reply, viewer: User | None) -> bool:
    """thread_rows for one reply already loaded (e.g. to render a live event per kind of viewer
    without asking the database again)."""
    rules = _thread_rules(viewer)
    if rules is None:
        return True
    return any(
        all(_matches(reply, lookup, value) for lookup, value in rule.items()) for rule in rules
    )


def _matches(reply: Reply, lookup: str, value: object) -> bool:
    field, _, operator = lookup.partition("__")
    actual = getattr(reply, field)
    if operator == "in":
        assert isinstance(value, list)
        return actual in value
    return bool(actual == value)


def thread_rows_sql(viewer: User | None, table: str) -> tuple[str, list[object]]:
    """thread_rows as an SQL condition on the replies table named table in the query, with
    "?" placeholders, and its parameters: for the thread reader's single hand-written query."""
    rules = _thread_rules(viewer)
    if rules is None:
        return "1 = 1", []
    alternatives: list[str] = []
    params: list[object] = []
    for rule in rules:
        conditions = []
        for lookup, value in rule.items():
            column, _, operator = lookup.partition("__")
            if operator == "in":
                assert isinstance(value, list)
                conditions.append(f"{table}.{column} IN ({', '.join('?' * len(value))})")
                params.extend(value)
            else:
                conditions.append(f"{table}.{column} = ?")
                params.append(value)
        alternatives.append(f"({' AND '.join(conditions)})")
    return f"({' OR '.join(alternatives)})", params


def readable_rows(viewer: User | None) -> Q:
    """Replies whose author and text viewer may read: the query form of shows_body, for
    notifications, feeds and emails."""
    if is_moderator(viewer):
        return Q(status__in=[ReplyStatus.VISIBLE, ReplyStatus.HIDDEN])
    readable = Q(status=ReplyStatus.VISIBLE)
    if viewer is not None:
        readable |= Q(status=ReplyStatus.HIDDEN, author_id=viewer.id)
    return readable


def counted_replies() -> Q:
    """Replies that count in the numbers shown (reply counts): visible ones only."""
    return Q(status=COUNTED_STATUS)


def counted_replies_sql() -> tuple[str, list[object]]:
    """counted_replies as a condition for a hand-written statement on the reply table, and its
    parameters."""
    return "status = ?", [COUNTED_STATUS.value]


def counted_change(before: ReplyStatus | None, after: ReplyStatus | None) -> int:
    """How one reply going from status before to after (None: not there) changes the reply
    counts shown, which count what counted_replies selects."""
    return (after == COUNTED_STATUS) - (before == COUNTED_STATUS)


def shows_body(reply: Reply, viewer: User | None) -> bool:
    """Whether viewer sees the author and text, or only a stub that keeps the tree's shape."""
    if reply.status == ReplyStatus.VISIBLE:
        return True
    if reply.status == ReplyStatus.HIDDEN and viewer is not None:
        return is_moderator(viewer) or reply.author_id == viewer.id
    return False


def as_seen_by(reply: Reply, viewer: User | None) -> Reply:
    """The reply as viewer may see it: the reply itself, or (when shows_body says no) a stub
    copy with its text, source and moderator's note emptied, so that no template or
    serialiser can show what the rules did not allow, whatever it renders."""
    if shows_body(reply, viewer):
        return reply
    return stub_of(reply)


def stub_of(reply: Reply) -> Reply:
    """A copy of reply without what its author wrote (the original is left as it was: live
    rendering reuses it for other kinds of viewer)."""
    stub = copy.copy(reply)
    stub.source = ""
    stub.html = ""
    stub.hidden_note = ""
    stub.passage = ""
    stub.quote = ""
    return stub
