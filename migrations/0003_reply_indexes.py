from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_live_events')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Reply',
            index=Index(fields=['parent_id', 'id']),
        ),
        ops.AddIndex(
            model_name='Reply',
            index=Index(fields=['article_id', 'status']),
        ),
    ]
