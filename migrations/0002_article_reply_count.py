from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Article',
            name='reply_count',
            field=fields.IntField(default=0, description='How many replies readers see under it (the visible ones).', db_default=0),
        ),
        # Count the threads that exist already (as forum.visibility.counted_replies counts).
        ops.RunSQL(
            "UPDATE articles SET reply_count = (SELECT COUNT(*) FROM replies"
            " WHERE replies.article_id = articles.id AND replies.status = 'visible')",
            reverse_sql="SELECT 1",
        ),
    ]
