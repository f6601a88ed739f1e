"""The ORM, SQL and Python forms of "which replies appear in a viewer's thread" agree.

The thread reader runs one hand-written statement (forum.replies.thread) with the SQL form; every
other reader uses the ORM form. Both come from one set of rules in forum.visibility; this checks
them against each other on every kind of row and every kind of viewer, on the run's database.
"""

from __future__ import annotations

import itertools

from forum.db import select_models
from forum.visibility import in_thread, thread_rows, thread_rows_sql
from models import Article, Reply, ReplyStatus, Role, User
from tests.conftest import unique_name


async def make_user(role: Role = Role.READER) -> User:
    name = unique_name("vis")
    return await User.create(username=name, username_key=name.lower(), password_hash="!", role=role)


async def test_the_sql_form_selects_what_the_orm_form_selects(fresh_article: Article) -> None:
    author, other = await make_user(), await make_user()
    moderator = await make_user(Role.MODERATOR)
    made: list[int] = []
    for status, has_replies, writer in itertools.product(
        ReplyStatus, (False, True), (author, other)
    ):
        reply = await Reply.create(
            article=fresh_article,
            author=writer,
            status=status,
            has_replies=has_replies,
            source="x",
            html="<p>x</p>",
        )
        made.append(reply.id)
    for viewer in (None, author, other, moderator):
        by_orm = await Reply.filter(thread_rows(viewer), article_id=fresh_article.id).values_list(
            "id", flat=True
        )
        condition, params = thread_rows_sql(viewer, "r")
        by_sql = await select_models(
            Reply,
            f"SELECT r.* FROM replies r WHERE r.article_id = ? AND {condition}",
            [fresh_article.id, *params],
            [],
        )
        assert sorted(by_orm) == sorted(row.id for row in by_sql), viewer
        everything = await Reply.filter(id__in=made)
        by_python = [row.id for row in everything if in_thread(row, viewer)]
        assert sorted(by_orm) == sorted(by_python), viewer
        # Not vacuous: each viewer sees some rows and, but for moderators, misses some.
        assert 0 < len(by_orm) <= len(made)
        assert (len(by_orm) == len(made)) == (viewer is moderator)
