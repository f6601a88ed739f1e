from tortoise import migrations
from tortoise.migrations import operations as ops
from models.live import EventKind
from models.moderation import AuditAction
from models.replies import HideReason, ReplyStatus
from models.users import Role
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_reply_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, description='Null for actions taken from the command line.', db_constraint=True, to_field='id', related_name='audit_entries', on_delete=OnDelete.SET_NULL)),
                ('actor_name', fields.CharField(description='Kept as text so the entry stays readable if the account is removed.', max_length=30)),
                ('action', fields.CharEnumField(db_index=True, description='HIDE: hide\nUNHIDE: unhide\nDISMISS_FLAGS: dismiss-flags\nLOCK: lock\nUNLOCK: unlock\nSUSPEND: suspend\nUNSUSPEND: unsuspend\nSET_ROLE: set-role', enum_type=AuditAction, max_length=24)),
                ('target_type', fields.CharField(description='What was acted on: "reply", "article" or "user", and its id.', max_length=16)),
                ('target_id', fields.IntField()),
                ('target_label', fields.CharField(default='', max_length=200)),
                ('reason', fields.CharField(default='', max_length=32)),
                ('note', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_log', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One moderator action, written in the same transaction as the action, never edited.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Flag',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reply', fields.ForeignKeyField('models.Reply', source_field='reply_id', db_constraint=True, to_field='id', related_name='flags', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='flags', on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharEnumField(description='SPAM: spam\nABUSE: abuse\nOFF_TOPIC: off-topic\nOTHER: other', enum_type=HideReason, max_length=16)),
                ('note', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('resolved_at', fields.DatetimeField(null=True, db_index=True, description='Set when a moderator dismissed the flag or hid the reply: it leaves the queue.', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'flags', 'app': 'models', 'unique_together': [('reply_id', 'user_id')], 'pk_attr': 'id', 'table_description': 'A report by a reader that a reply needs a look from a moderator (one per reader and reply).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Article',
            name='locked',
            field=fields.BooleanField(default=False, description='No new replies while locked by a moderator.', db_default=False),
        ),
        ops.AlterField(
            model_name='LiveEvent',
            name='kind',
            field=fields.CharEnumField(description='POSTED: reply.posted\nEDITED: reply.edited\nDELETED: reply.deleted\nHIDDEN: reply.hidden\nUNHIDDEN: reply.unhidden\nLOCKED: thread.locked\nUNLOCKED: thread.unlocked', enum_type=EventKind, max_length=32),
        ),
        ops.AlterField(
            model_name='LiveEvent',
            name='reply_id',
            field=fields.IntField(description='The reply concerned (0 for thread events). Not a foreign key: it may be gone by a replay.'),
        ),
        ops.AlterField(
            model_name='Reply',
            name='status',
            field=fields.CharEnumField(default=ReplyStatus.VISIBLE, description='VISIBLE: visible\nDELETED: deleted\nHIDDEN: hidden', enum_type=ReplyStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Reply',
            name='hidden_note',
            field=fields.CharField(default='', db_default='', max_length=500),
        ),
        ops.AddField(
            model_name='Reply',
            name='hidden_reason',
            field=fields.CharEnumField(null=True, description='SPAM: spam\nABUSE: abuse\nOFF_TOPIC: off-topic\nOTHER: other', enum_type=HideReason, max_length=16),
        ),
        ops.AddField(
            model_name='User',
            name='role',
            field=fields.CharEnumField(default=Role.READER, description='READER: reader\nMODERATOR: moderator\nADMIN: admin', db_default='reader', enum_type=Role, max_length=16),
        ),
        ops.AddField(
            model_name='User',
            name='suspended_until',
            field=fields.DatetimeField(null=True, description='Suspended until this moment (a far-future date for good), null when not suspended.', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='suspension_reason',
            field=fields.CharField(default='', db_default='', max_length=500),
        ),
    ]
