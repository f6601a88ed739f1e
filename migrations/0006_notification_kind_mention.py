from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notifications import NotificationKind
from tortoise import fields


class AlterFieldDescription(ops.AlterField):
    """A new enum member changes only the field's description (the column is VARCHAR(16) either
    way): the migration state follows, the table is left as it is. Altering the column would
    make SQLite rebuild the table and lose its unique (user_id, reply_id) and its index."""

    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0005_reply_author_index')]

    initial = False

    operations = [
        AlterFieldDescription(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='REPLY: reply\nTHREAD: thread\nMENTION: mention', enum_type=NotificationKind, max_length=16),
        ),
    ]
