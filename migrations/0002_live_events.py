from tortoise import migrations
from tortoise.migrations import operations as ops
from models.live import EventKind
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LiveEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='live_events', on_delete=OnDelete.CASCADE)),
                ('seq', fields.BigIntField(description='Position in the stream of its article: 1, 2, 3, never reused, survives restarts.')),
                ('kind', fields.CharEnumField(description='POSTED: reply.posted\nEDITED: reply.edited\nDELETED: reply.deleted', enum_type=EventKind, max_length=32)),
                ('reply_id', fields.IntField(description='The reply concerned. Not a foreign key: the reply may be gone by the time of a replay.')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'live_events', 'app': 'models', 'unique_together': [('article_id', 'seq')], 'pk_attr': 'id', 'table_description': 'One change in a thread, in commit order of its article (seq only grows).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Article',
            name='last_seq',
            field=fields.BigIntField(default=0, db_default=0, description='Sequence number of the last live event in the thread of this article (0: none yet).'),
        ),
    ]
