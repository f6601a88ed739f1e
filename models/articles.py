"""Articles: the content each discussion is about."""

from tortoise import fields
from tortoise.models import Model


class Article(Model):
    """An article, whose discussion is the replies that point to it."""

    id = fields.IntField(primary_key=True)
    #: URL name, unique, also the identity used to make loading idempotent.
    slug = fields.CharField(max_length=120, unique=True)
    title = fields.CharField(max_length=300)
    subtitle = fields.CharField(max_length=500, default="")
    #: The Markdown source as shipped.
    body_markdown = fields.TextField()
    #: Rendered and sanitised once at import.
    body_html = fields.TextField()
    #: No new replies while locked by a moderator.
    locked = fields.BooleanField(default=False, db_default=False)
    # Kept by the reply and moderation services in the transactions that change it (see
    # forum.articles.service.count_replies), so that no page has to count the thread.
    #: How many replies readers see under it (the visible ones).
    reply_count = fields.IntField(default=0, db_default=0)
    #: Sequence number of the last live event in the thread of this article (0: none yet).
    last_seq = fields.BigIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "articles"
