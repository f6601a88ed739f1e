from tortoise import migrations
from tortoise.migrations import operations as ops
from models.live import EventKind
from models.moderation import AuditAction
from models.notifications import MailStatus, NotificationKind
from models.replies import HideReason, ReplyStatus
from models.users import Role
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Article',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('slug', fields.CharField(unique=True, description='URL name, unique, also the identity used to make loading idempotent.', max_length=120)),
                ('title', fields.CharField(max_length=300)),
                ('subtitle', fields.CharField(default='', max_length=500)),
                ('body_markdown', fields.TextField(description='The Markdown source as shipped.', unique=False)),
                ('body_html', fields.TextField(description='Rendered and sanitised once at import.', unique=False)),
                ('locked', fields.BooleanField(default=False, description='No new replies while locked by a moderator.', db_default=False)),
                ('last_seq', fields.BigIntField(default=0, description='Sequence number of the last live event in the thread of this article (0: none yet).', db_default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'articles', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An article, whose discussion is the replies that point to it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LiveEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='live_events', on_delete=OnDelete.CASCADE)),
                ('seq', fields.BigIntField(description='Position in the stream of its article: 1, 2, 3, never reused, survives restarts.')),
                ('kind', fields.CharEnumField(description='POSTED: reply.posted\nEDITED: reply.edited\nDELETED: reply.deleted\nHIDDEN: reply.hidden\nUNHIDDEN: reply.unhidden\nLOCKED: thread.locked\nUNLOCKED: thread.unlocked', enum_type=EventKind, max_length=32)),
                ('reply_id', fields.IntField(description='The reply concerned (0 for thread events). Not a foreign key: it may be gone by a replay.')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'live_events', 'app': 'models', 'unique_together': [('article_id', 'seq')], 'pk_attr': 'id', 'table_description': 'One change in a thread, in commit order of its article (seq only grows).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(description='The name as the reader typed it (3–30 of A-Z, a-z, 0-9, _ and -).', max_length=30)),
                ('username_key', fields.CharField(unique=True, description='Lower-cased username: uniqueness is case-insensitive.', max_length=30)),
                ('email', fields.CharField(null=True, description='Optional address for notifications.', max_length=254)),
                ('password_hash', fields.CharField(description='argon2id hash in PHC string format.', max_length=255)),
                ('role', fields.CharEnumField(default=Role.READER, description='READER: reader\nMODERATOR: moderator\nADMIN: admin', db_default='reader', enum_type=Role, max_length=16)),
                ('suspended_until', fields.DatetimeField(null=True, description='Suspended until this moment (a far-future date for good), null when not suspended.', auto_now=False, auto_now_add=False)),
                ('suspension_reason', fields.CharField(default='', db_default='', max_length=500)),
                ('notify_replies', fields.BooleanField(default=True, description="Be notified of replies to one's own replies (the default) or not.", db_default=True)),
                ('feed_token', fields.CharField(null=True, unique=True, description='Secret in the URL of the private "replies to me" feed. A new one revokes the old.', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A registered reader.'},
            bases=['Model'],
        ),
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
            name='Reply',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.CASCADE)),
                ('parent', fields.ForeignKeyField('models.Reply', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=ReplyStatus.VISIBLE, description='VISIBLE: visible\nDELETED: deleted\nHIDDEN: hidden', enum_type=ReplyStatus, max_length=16)),
                ('depth', fields.IntField(default=0, description='0 for a reply to the article, one more than the parent below it.')),
                ('ancestry', fields.TextField(default='', description='Ids of the ancestors, root first, each followed by a slash (empty at the top level).', unique=False)),
                ('source', fields.TextField(description='Markdown as written (emptied when deleted).', unique=False)),
                ('html', fields.TextField(description='Sanitised HTML rendered from source.', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('edited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('has_replies', fields.BooleanField(default=False, description='Whether any reply answers this one (kept up to date by the reply service).', db_default=False)),
                ('hidden_reason', fields.CharEnumField(null=True, description='SPAM: spam\nABUSE: abuse\nOFF_TOPIC: off-topic\nOTHER: other', enum_type=HideReason, max_length=16)),
                ('hidden_note', fields.CharField(default='', db_default='', max_length=500)),
            ],
            options={'table': 'replies', 'app': 'models', 'indexes': [Index(fields=['article_id', 'parent_id', 'id']), Index(fields=['parent_id', 'id']), Index(fields=['article_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A reply to an article (parent is null) or to another reply.'},
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
            options={'table': 'flags', 'app': 'models', 'unique_together': [('reply_id', 'user_id')], 'pk_attr': 'id', 'table_description': 'A report by a reader that a reply needs a moderator (one per reader and reply).'},
            bases=['Model'],
        ),
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
            name='Session',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, description='SHA-256 hex digest of the session token.', max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A signed-in browser or API client. The cookie holds the token, we keep only its hash.'},
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
    ]
