from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notifications import AccountMailKind, MailStatus
from models.users import TokenPurpose
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_article_reply_count')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountMail',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='account_mail', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='VERIFY_EMAIL: verify_email\nEMAIL_CHANGED: email_changed\nRESET_PASSWORD: reset_password\nSIGN_IN: sign_in', enum_type=AccountMailKind, max_length=16)),
                ('to_address', fields.CharField(max_length=254)),
                ('token_seed', fields.CharField(default='', description="Random seed the link's token is derived from with SECRET_KEY (forum.accounts.tokens):", max_length=64)),
                ('status', fields.CharEnumField(default=MailStatus.PENDING, description='PENDING: pending\nSENT: sent\nFAILED: failed\nCANCELLED: cancelled', enum_type=MailStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('message_id', fields.CharField(default='', max_length=200)),
                ('claim', fields.CharField(default='', max_length=32)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_mail', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at'])], 'pk_attr': 'id', 'table_description': 'One account mail to send (verification, reset, sign-in link, change notice), written in'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AccountToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharEnumField(description='VERIFY_EMAIL: verify_email\nRESET_PASSWORD: reset_password\nSIGN_IN: sign_in', enum_type=TokenPurpose, max_length=16)),
                ('token_hash', fields.CharField(unique=True, description='SHA-256 hex digest of the token.', max_length=64)),
                ('email', fields.CharField(description='The address the token was mailed to: a verification token verifies only that address.', max_length=254)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, description='When it was used (or made void by a newer token, a reset or a changed address).', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_tokens', 'app': 'models', 'indexes': [Index(fields=['user_id', 'purpose', 'used_at'])], 'pk_attr': 'id', 'table_description': "A single-use secret mailed to an account's owner (verification, reset, sign-in link)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='deleted_at',
            field=fields.DatetimeField(null=True, description='When its owner deleted the account (the row stays, nameless, for the replies kept).', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='email_notifications',
            field=fields.BooleanField(default=True, description='Notification mail at all (off: no email at all). The bell and feeds go on.', db_default=True),
        ),
        ops.AddField(
            model_name='User',
            name='email_verified_at',
            field=fields.DatetimeField(null=True, description='When the owner opened the verification link sent to the address, null while unverified', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='former_username_key',
            field=fields.CharField(null=True, db_index=True, description="A deleted account's username_key, held back from registration for a quarantine.", max_length=30),
        ),
    ]
