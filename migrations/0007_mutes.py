from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_notification_kind_mention')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Mute',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='mutes', on_delete=OnDelete.CASCADE, description='Who muted.')),
                ('muted', fields.ForeignKeyField('models.User', source_field='muted_id', db_constraint=True, to_field='id', related_name='muted_by', on_delete=OnDelete.CASCADE, description='Whom they muted.')),
                ('created_at', fields.DatetimeField(auto_now_add=True)),
            ],
            options={'table': 'mutes', 'app': 'models', 'unique_together': [('user_id', 'muted_id')], 'indexes': [Index(fields=['muted_id'])], 'pk_attr': 'id', 'table_description': 'One member muting another: collapsed replies, no notifications from them.'},
            bases=['Model'],
        ),
    ]
