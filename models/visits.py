"""When a member last read each thread, for marking what is new since."""

from tortoise import fields
from tortoise.models import Model


class ThreadVisit(Model):
    """When a member last loaded one article's thread, and when their previous visit ended."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="thread_visits", on_delete=fields.CASCADE
    )
    article: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Article", related_name="visits", on_delete=fields.CASCADE
    )
    user_id: int
    article_id: int
    #: When the thread's page was last served to them whole.
    seen_at = fields.DatetimeField()
    #: When their previous visit ended: replies posted since are new to them (null: none).
    previous_seen_at = fields.DatetimeField(null=True)

    class Meta:
        table = "thread_visits"
        unique_together = [("user_id", "article_id")]
