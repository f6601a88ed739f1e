from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notifications import MailStatus, NotificationKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_moderation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('reply', fields.ForeignKeyField('models.Reply', source_field='reply_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='REPLY: reply\nTHREAD: thread', enum_type=NotificationKind, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notifications', 'app': 'models', 'unique_together': [('user_id', 'reply_id')], 'indexes': [Index(fields=['user_id', 'read_at', 'id'])], 'pk_attr': 'id', 'table_description': 'A reply someone should know about, shown under the bell until read.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('recipient', fields.ForeignKeyField('models.User', source_field='recipient_id', db_constraint=True, to_field='id', related_name='outbox', on_delete=OnDelete.CASCADE)),
                ('reply', fields.ForeignKeyField('models.Reply', source_field='reply_id', db_constraint=True, to_field='id', related_name='outbox', on_delete=OnDelete.CASCADE)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='outbox', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=MailStatus.PENDING, description='PENDING: pending\nSENT: sent\nFAILED: failed\nCANCELLED: cancelled', enum_type=MailStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(db_index=True, description='Not before this moment (coalescing window, then backoff after a temporary failure).', auto_now=False, auto_now_add=False)),
                ('message_id', fields.CharField(default='', description='Message-ID of the message that carries (or carried) this item, reused on a resend.', max_length=200)),
                ('claim', fields.CharField(default='', description='A sender working on this item: its claim, valid until claimed_until (then free again).', max_length=32)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox', 'app': 'models', 'unique_together': [('recipient_id', 'reply_id')], 'indexes': [Index(fields=['status', 'due_at'])], 'pk_attr': 'id', 'table_description': 'One reply to mail to one recipient, written in the transaction of the reply.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Subscription',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='subscriptions', on_delete=OnDelete.CASCADE)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='subscriptions', on_delete=OnDelete.CASCADE)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'subscriptions', 'app': 'models', 'unique_together': [('user_id', 'article_id')], 'indexes': [Index(fields=['article_id', 'active'])], 'pk_attr': 'id', 'table_description': 'A reader following a thread (active), or having left it (not active: no notifications'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='Flag',
            options={'table': 'flags', 'app': 'models', 'unique_together': [('reply_id', 'user_id')], 'pk_attr': 'id', 'table_description': 'A report by a reader that a reply needs a moderator (one per reader and reply).'},
        ),
        ops.AddField(
            model_name='User',
            name='feed_token',
            field=fields.CharField(null=True, unique=True, description='Secret in the URL of the private "replies to me" feed. A new one revokes the old.', max_length=64),
        ),
        ops.AddField(
            model_name='User',
            name='notify_replies',
            field=fields.BooleanField(default=True, description="Be notified of replies to one's own replies (the default) or not.", db_default=True),
        ),
    ]
