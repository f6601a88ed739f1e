from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_reply_passages')]

    initial = False

    # New AuditAction and EventKind values need no change: both columns are plain text, and an
    # AlterField of their descriptions would make SQLite rebuild those tables for nothing.
    operations = [
        ops.CreateModel(
            name='ReplyRevision',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reply', fields.ForeignKeyField('models.Reply', source_field='reply_id', db_constraint=True, to_field='id', related_name='revisions', on_delete=OnDelete.CASCADE)),
                ('version', fields.IntField(description='1 for the text as first posted, then one more per edit.')),
                ('source', fields.TextField(description='Markdown as written then.', unique=False)),
                ('html', fields.TextField(description='Sanitised HTML rendered from source then.', unique=False)),
                ('written_at', fields.DatetimeField(description='When this text was written (posted, or the edit that wrote it).', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reply_revisions', 'app': 'models', 'unique_together': [('reply_id', 'version')], 'pk_attr': 'id', 'table_description': 'An earlier text of a reply, kept when its author edits it (the current text stays on the reply).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Reply',
            name='pinned_at',
            field=fields.DatetimeField(null=True, description='Set while a moderator has it pinned to the top of its thread (only visible replies).', auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Reply',
            index=Index(fields=['article_id', 'pinned_at']),
        ),
    ]
