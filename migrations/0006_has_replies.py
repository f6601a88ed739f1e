from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_notifications')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Reply',
            name='has_replies',
            field=fields.BooleanField(default=False, description='Whether any reply answers this one (kept up to date by the reply service).', db_default=False),
        ),
        # Replies written before this column existed.
        ops.RunSQL(
            "UPDATE replies SET has_replies = TRUE WHERE id IN "
            "(SELECT parent_id FROM replies WHERE parent_id IS NOT NULL)",
            reverse_sql="",
        ),
    ]
