"""Atom feeds with feedgen: a public feed per thread and a private "replies to me" feed."""

from __future__ import annotations

import secrets

from feedgen.feed import FeedGenerator

from forum.urls import absolute_links, article_path, reply_permalink
from forum.visibility import readable_rows
from models import Article, Notification, NotificationKind, Reply, User

FEED_SIZE = 50


def _entry(
    feed: FeedGenerator, reply: Reply, article: Article, base_url: str, *, mentioned: bool = False
) -> None:
    link = base_url + reply_permalink(article.slug, reply.id)
    entry = feed.add_entry(order="append")
    entry.id(link)
    said = " mentioned you" if mentioned else ""
    entry.title(f"{reply.author.username}{said} in “{article.title}”")
    entry.author({"name": reply.author.username})
    entry.link(href=link, rel="alternate")
    entry.published(reply.created_at)
    entry.updated(reply.edited_at or reply.created_at)
    entry.content(absolute_links(reply.html, base_url), type="html")


async def thread_feed(article: Article, base_url: str) -> bytes:
    """The newest replies of a thread that anyone may read."""
    replies = (
        await Reply.filter(readable_rows(None), article_id=article.id)
        .order_by("-id")
        .limit(FEED_SIZE)
        .select_related("author")
    )
    feed = FeedGenerator()
    url = base_url + article_path(article.slug)
    feed.id(url)
    feed.title(f"Discussion: {article.title}")
    feed.link(href=url, rel="alternate")
    feed.link(href=f"{url}/feed.atom", rel="self")
    feed.updated(replies[0].created_at if replies else article.created_at)
    for reply in replies:
        _entry(feed, reply, article, base_url)
    return bytes(feed.atom_str(pretty=True))


async def replies_to_me_feed(user: User, base_url: str) -> bytes:
    """The newest replies the user was notified of (replies to theirs, mentions of them, in
    threads they follow) that they may read."""
    replies = (
        await Reply.filter(readable_rows(user), notifications__user_id=user.id)
        .order_by("-id")
        .limit(FEED_SIZE)
        .select_related("author", "article")
    )
    mentions = set(
        await Notification.filter(
            user_id=user.id,
            reply_id__in=[reply.id for reply in replies],
            kind=NotificationKind.MENTION,
        ).values_list("reply_id", flat=True)
    )
    feed = FeedGenerator()
    feed.id(f"{base_url}/u/{user.username}#replies")
    feed.title(f"Replies for {user.username}")
    feed.link(href=f"{base_url}/notifications", rel="alternate")
    feed.updated(replies[0].created_at if replies else user.created_at)
    for reply in replies:
        _entry(feed, reply, reply.article, base_url, mentioned=reply.id in mentions)
    return bytes(feed.atom_str(pretty=True))


async def renew_feed_token(user: User) -> str:
    """Give the user a new private feed address; the old one stops working."""
    user.feed_token = secrets.token_urlsafe(24)
    await user.save(update_fields=["feed_token"])
    return user.feed_token
