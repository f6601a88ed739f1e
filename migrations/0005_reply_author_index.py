from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_reply_votes')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Reply',
            index=Index(fields=['author_id', 'id']),
        ),
    ]
