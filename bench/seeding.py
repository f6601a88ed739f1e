"""A realistic thread for the benches, seeded in bulk through the ORM.

Replies get depth and ancestry as forum.replies.service.post_reply sets them, and HTML rendered by
forum.markdown.render_reply (once per sample body).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise import Tortoise

from forum.articles.passages import article_passages
from forum.db import tortoise_config
from forum.markdown import render_reply
from models import Article, Reply, ReplyStatus, User

# The thread's shape: a quarter of replies answer the article, the others answer one of the
# newer top-level replies or something recent (conversations happen around new replies), a few
# come back to an older reply. The same shape at any size, so 1k and 10k pages show alike trees.
AUTHORS = 40
TOP_LEVEL_SHARE = 0.25
NEW_TOP_LEVEL_SHARE = 0.20
OLD_REPLY_SHARE = 0.10
NEW_TOP_LEVELS = 40
RECENT_WINDOW = 150
DELETED_SHARE = 0.01
#: Share of the replies to the article that are about one of its passages (with a quote).
PASSAGE_SHARE = 0.20
THREAD_SPAN = timedelta(days=2)
#: Depth of the reply whose permalink is timed (the same at both sizes, so the pages compare).
PERMALINK_DEPTH = 8

SAMPLE_BODIES = [
    "Agreed.",
    "This is the part that worries me most. Nobody seems to have a plan for what comes next.",
    "Do you have a source for that? I read the opposite in *two* different papers this week.",
    "> the policy shift was inevitable\n\nInevitable is a strong word. It was a choice, and it "
    "could have been made a year earlier or not at all.",
    "Good point, but consider the logistics: range, supply, and who gets to pick the targets. "
    "Each of those is its own negotiation.\n\nThe announcement skips all of it.",
    "Here is the full statement: [official transcript](https://example.org/statement). "
    "Worth reading before arguing about it.",
    "I think people are underestimating how long this takes to change anything on the ground. "
    "Weeks at best, more likely months, and by then the situation will have moved again.",
    "Three things:\n\n1. Timing\n2. Escalation risk\n3. The incoming administration\n\n"
    "Only the third one really matters now.",
    "**Exactly.** And nobody asked the allies first.",
    "You are mixing up two different decisions here. One is about range, the other about "
    "which systems may be used. They were announced together but they are not the same thing, "
    "and the second one is the one with consequences.",
    "Maybe. We will know more in a month.",
    "Long-time reader, first comment. The article is right about the stakes but wrong about the "
    "motive: this was about leverage before negotiations, not about the battlefield.",
]


class SeedError(Exception):
    """The thread could not be seeded as planned."""


@dataclass(frozen=True)
class Seeded:
    """What the bench needs to know about a seeded thread."""

    slug: str
    top_level: int
    max_depth: int
    #: The newest reply at PERMALINK_DEPTH (or the deepest, in a shallower thread).
    deep_reply: Reply


def plan_thread(count: int, rng: random.Random) -> list[int | None]:
    """The parent (as an index into the list) of each reply, oldest first."""
    parents: list[int | None] = []
    top_level: list[int] = []
    for index in range(count):
        roll = rng.random()
        if index == 0 or roll < TOP_LEVEL_SHARE:
            parents.append(None)
            top_level.append(index)
        elif roll < TOP_LEVEL_SHARE + NEW_TOP_LEVEL_SHARE:
            parents.append(rng.choice(top_level[-NEW_TOP_LEVELS:]))
        elif roll < TOP_LEVEL_SHARE + NEW_TOP_LEVEL_SHARE + OLD_REPLY_SHARE:
            parents.append(rng.randrange(index))
        else:
            parents.append(rng.randrange(max(index - RECENT_WINDOW, 0), index))
    return parents


async def seed_thread(database_url: str, count: int) -> Seeded:
    """Add AUTHORS readers and count replies under the (only) article, in bulk."""
    rng = random.Random(count)
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        article = await Article.all().order_by("id").first()
        if article is None:
            raise SeedError("the seed article was not loaded at start")
        await User.bulk_create(
            [
                User(username=f"reader{n}", username_key=f"reader{n}", password_hash="!bench")
                for n in range(AUTHORS)
            ]
        )
        authors = await User.all().order_by("id")
        # A few people write most replies.
        weights = [1 / (rank + 1) for rank in range(len(authors))]
        bodies = [(source, render_reply(source)) for source in SAMPLE_BODIES]
        parents = plan_thread(count, rng)
        has_children = {parent for parent in parents if parent is not None}
        first_id = ((await Reply.all().order_by("-id").first()) or Reply(id=0)).id + 1
        start = datetime.now(UTC) - THREAD_SPAN
        passages = article_passages(article).passages
        replies: list[Reply] = []
        for index, parent_index in enumerate(parents):
            parent = replies[parent_index] if parent_index is not None else None
            source, html = rng.choice(bodies)
            deleted = index in has_children and rng.random() < DELETED_SHARE
            about = rng.choice(passages) if not parent and rng.random() < PASSAGE_SHARE else None
            replies.append(
                Reply(
                    id=first_id + index,
                    article_id=article.id,
                    parent_id=parent.id if parent else None,
                    author_id=rng.choices(authors, weights)[0].id,
                    status=ReplyStatus.DELETED if deleted else ReplyStatus.VISIBLE,
                    depth=parent.depth + 1 if parent else 0,
                    ancestry=f"{parent.ancestry}{parent.id}/" if parent else "",
                    source="" if deleted else source,
                    html="" if deleted else html,
                    created_at=start + THREAD_SPAN * (index / count),
                    has_replies=index in has_children,
                    passage=about.anchor if about else None,
                    quote=" ".join(about.text.split()[:8]) if about else None,
                )
            )
        await Reply.bulk_create(replies, batch_size=1000)
        if await Reply.filter(article_id=article.id).count() != count:
            raise SeedError(f"seeding {count} replies stored a different number")
        visible = [reply for reply in replies if reply.status == ReplyStatus.VISIBLE]
        # Moderators pin a few replies, top-level and nested: the first page reads them too.
        pinned = [reply.id for reply in visible if reply.depth == 0][:2]
        pinned += [reply.id for reply in visible if reply.depth == 2][:1]
        await Reply.filter(id__in=pinned).update(pinned_at=datetime.now(UTC))
        # As the reply service keeps it when replies are posted one by one.
        await Article.filter(id=article.id).update(reply_count=len(visible))
        at_depth = [reply for reply in visible if reply.depth == PERMALINK_DEPTH]
        deep_reply = at_depth[-1] if at_depth else max(visible, key=lambda reply: reply.depth)
        return Seeded(
            slug=article.slug,
            top_level=parents.count(None),
            max_depth=max(reply.depth for reply in replies),
            deep_reply=deep_reply,
        )
    finally:
        await Tortoise.close_connections()
