"""Reply notifications: thread subscriptions, the in-page notifications, and the mail outbox."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Subscription(Model):
    """A reader following a thread (active), or having left it (not active: no notifications
    from it at all, not even for replies to their own replies)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="subscriptions", on_delete=fields.CASCADE
    )
    user_id: int
    article: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Article", related_name="subscriptions", on_delete=fields.CASCADE
    )
    article_id: int
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "subscriptions"
        unique_together = [("user_id", "article_id")]
        indexes = [("article_id", "active")]


class NotificationKind(StrEnum):
    """Why someone is notified of a reply."""

    #: Someone replied to one of their replies.
    REPLY = "reply"
    #: A new reply in a thread they follow.
    THREAD = "thread"
    #: A reply names them (@name), when posted or when an edit adds the name.
    MENTION = "mention"


class Notification(Model):
    """A reply someone should know about, shown under the bell until read."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    user_id: int
    reply: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Reply", related_name="notifications", on_delete=fields.CASCADE
    )
    reply_id: int
    kind = fields.CharEnumField(NotificationKind, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notifications"
        unique_together = [("user_id", "reply_id")]
        indexes = [("user_id", "read_at", "id")]


class MailStatus(StrEnum):
    """Where an outbox item is on its way to the inbox."""

    PENDING = "pending"
    SENT = "sent"
    #: Permanent failure, or too many temporary ones.
    FAILED = "failed"
    #: The reply was hidden or deleted before the mail went out.
    CANCELLED = "cancelled"


class OutboxItem(Model):
    """One reply to mail to one recipient, written in the transaction of the reply.

    Items of one recipient and thread are sent together in one message (coalesced); the
    unique (recipient, reply) pair and a stable Message-ID keep a restarted sender from
    sending anything twice.
    """

    id = fields.IntField(primary_key=True)
    recipient: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="outbox", on_delete=fields.CASCADE
    )
    recipient_id: int
    reply: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Reply", related_name="outbox", on_delete=fields.CASCADE
    )
    reply_id: int
    article: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Article", related_name="outbox", on_delete=fields.CASCADE
    )
    article_id: int
    status = fields.CharEnumField(MailStatus, max_length=16, default=MailStatus.PENDING)
    attempts = fields.IntField(default=0)
    #: Not before this moment (coalescing window, then backoff after a temporary failure).
    due_at = fields.DatetimeField(db_index=True)
    #: Message-ID of the message that carries (or carried) this item, reused on a resend.
    message_id = fields.CharField(max_length=200, default="")
    #: A sender working on this item: its claim, valid until claimed_until (then free again).
    claim = fields.CharField(max_length=32, default="")
    claimed_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
        unique_together = [("recipient_id", "reply_id")]
        indexes = [("status", "due_at")]


class AccountMailKind(StrEnum):
    """What an account mail is about."""

    VERIFY_EMAIL = "verify_email"
    #: To the old address, after the account's address changed.
    EMAIL_CHANGED = "email_changed"
    RESET_PASSWORD = "reset_password"
    SIGN_IN = "sign_in"


class AccountMail(Model):
    """One account mail to send (verification, reset, sign-in link, change notice), written in
    the transaction that asked for it and sent by the same sender as the outbox, with the same
    claims, retries and Message-ID reuse.

    A table of its own rather than outbox rows: an outbox item is a reply in a thread (never
    null, coalesced per thread, unique per recipient and reply); an account mail is neither, is
    never coalesced, and goes to the address it was written for, which need not be the
    account's address by the time it is sent (the old address told of a change).
    """

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="account_mail", on_delete=fields.CASCADE
    )
    user_id: int
    kind = fields.CharEnumField(AccountMailKind, max_length=16)
    to_address = fields.CharField(max_length=254)
    #: Random seed the link's token is derived from with SECRET_KEY (forum.accounts.tokens):
    #: worthless without the key, and blanked once the mail is sent or given up.
    token_seed = fields.CharField(max_length=64, default="")
    status = fields.CharEnumField(MailStatus, max_length=16, default=MailStatus.PENDING)
    attempts = fields.IntField(default=0)
    due_at = fields.DatetimeField()
    message_id = fields.CharField(max_length=200, default="")
    claim = fields.CharField(max_length=32, default="")
    claimed_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_mail"
        indexes = [("status", "due_at")]
