from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_account_mail_and_tokens')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReplyVote',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reply', fields.ForeignKeyField('models.Reply', source_field='reply_id', db_constraint=True, to_field='id', related_name='votes', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='votes', on_delete=OnDelete.CASCADE)),
                ('slot', fields.IntField(default=0, description="0 while the vote stands, the row's id once taken back.")),
                ('voted_us', fields.BigIntField(description='When the vote was cast.')),
                ('retracted_us', fields.BigIntField(null=True, description='When it was taken back (null while it stands).')),
            ],
            options={'table': 'reply_votes', 'app': 'models', 'unique_together': [('reply_id', 'user_id', 'slot')], 'pk_attr': 'id', 'table_description': 'An up-vote of a reply by a member (a vote taken back stays, as history).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Reply',
            name='score',
            field=fields.IntField(default=0, description="Up-votes standing now (kept by the vote service with atomic increments).", db_default=0),
        ),
    ]
