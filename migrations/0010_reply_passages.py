from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0009_thread_visits')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Reply',
            name='passage',
            field=fields.CharField(null=True, description="Anchor of the passage of the article the reply is about (null: about the article as a whole).", max_length=40),
        ),
        ops.AddField(
            model_name='Reply',
            name='quote',
            field=fields.TextField(null=True, description='The words of that passage it quotes (whitespace collapsed, null without a passage).', unique=False),
        ),
        ops.AddIndex(
            model_name='Reply',
            index=Index(fields=['article_id', 'passage', 'status']),
        ),
    ]
