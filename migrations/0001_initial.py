from tortoise import migrations
from tortoise.migrations import operations as ops
from models.replies import ReplyStatus
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
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'articles', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An article, whose discussion is the replies that point to it.'},
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
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A registered reader.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reply',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article', fields.ForeignKeyField('models.Article', source_field='article_id', db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.CASCADE)),
                ('parent', fields.ForeignKeyField('models.Reply', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=ReplyStatus.VISIBLE, description='VISIBLE: visible\nDELETED: deleted', enum_type=ReplyStatus, max_length=16)),
                ('depth', fields.IntField(default=0, description='0 for a reply to the article, one more than the parent below it.')),
                ('ancestry', fields.TextField(default='', description='Ids of the ancestors, root first, each followed by a slash (empty at the top level).', unique=False)),
                ('source', fields.TextField(description='Markdown as written (emptied when deleted).', unique=False)),
                ('html', fields.TextField(description='Sanitised HTML rendered from source.', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('edited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'replies', 'app': 'models', 'indexes': [Index(fields=['article_id', 'parent_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A reply to an article (parent is null) or to another reply.'},
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
    ]
