from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_reply_headings_out_of_outline')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ThreadVisit',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='thread_visits', on_delete=OnDelete.CASCADE)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
                ('seen_at', fields.DatetimeField(description="When the thread's page was last served to them whole.", auto_now=False, auto_now_add=False)),
                ('previous_seen_at', fields.DatetimeField(null=True, description='When their previous visit ended: replies posted since are new to them (null: none).', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'thread_visits', 'app': 'models', 'unique_together': [('user_id', 'article_id')], 'pk_attr': 'id', 'table_description': "When a member last loaded one article's thread, and when their previous visit ended."},
            bases=['Model'],
        ),
    ]
