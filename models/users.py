"""Accounts and their server-side sessions."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    """What an account may do: readers read and reply, moderators moderate, admins appoint."""

    READER = "reader"
    MODERATOR = "moderator"
    ADMIN = "admin"


class User(Model):
    """A registered reader."""

    id = fields.IntField(primary_key=True)
    #: The name as the reader typed it (3–30 of A-Z, a-z, 0-9, _ and -).
    username = fields.CharField(max_length=30)
    #: Lower-cased username: uniqueness is case-insensitive.
    username_key = fields.CharField(max_length=30, unique=True)
    #: Optional address for notifications.
    email = fields.CharField(max_length=254, null=True)
    #: When the owner opened the verification link sent to the address, null while unverified
    #: (no notification mail goes to an unverified address). Reset whenever `email` changes.
    email_verified_at = fields.DatetimeField(null=True)
    #: argon2id hash in PHC string format.
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16, default=Role.READER, db_default="reader")
    #: Suspended until this moment (a far-future date for good), null when not suspended.
    suspended_until = fields.DatetimeField(null=True)
    suspension_reason = fields.CharField(max_length=500, default="", db_default="")
    #: Be notified of replies to one's own replies (the default) or not.
    notify_replies = fields.BooleanField(default=True, db_default=True)
    #: Notification mail at all (off: no email at all). The bell and feeds go on.
    email_notifications = fields.BooleanField(default=True, db_default=True)
    #: Secret in the URL of the private "replies to me" feed. A new one revokes the old.
    feed_token = fields.CharField(max_length=64, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    #: When its owner deleted the account (the row stays, nameless, for the replies kept).
    deleted_at = fields.DatetimeField(null=True)
    #: A deleted account's username_key, held back from registration for a quarantine.
    former_username_key = fields.CharField(max_length=30, null=True, db_index=True)

    class Meta:
        table = "users"


class Session(Model):
    """A signed-in browser or API client. The cookie holds the token, we keep only its hash."""

    id = fields.IntField(primary_key=True)
    #: SHA-256 hex digest of the session token.
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: int
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "sessions"


class TokenPurpose(StrEnum):
    """What an account token lets its holder do, once."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    SIGN_IN = "sign_in"


class AccountToken(Model):
    """A single-use secret mailed to an account's owner (verification, reset, sign-in link).

    Only the SHA-256 of the token is kept; the link carries the token itself.
    """

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    user_id: int
    purpose = fields.CharEnumField(TokenPurpose, max_length=16)
    #: SHA-256 hex digest of the token.
    token_hash = fields.CharField(max_length=64, unique=True)
    #: The address the token was mailed to: a verification token verifies only that address.
    email = fields.CharField(max_length=254)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    #: When it was used (or made void by a newer token, a reset or a changed address).
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_tokens"
        indexes = [("user_id", "purpose", "used_at")]


class Mute(Model):
    """One member muting another: collapsed replies, no notifications from them."""

    id = fields.IntField(primary_key=True)
    #: Who muted.
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="mutes", on_delete=fields.CASCADE
    )
    user_id: int
    #: Whom they muted.
    muted: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="muted_by", on_delete=fields.CASCADE
    )
    muted_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mutes"
        unique_together = [("user_id", "muted_id")]
        #: Who muted an author: asked for each reply that notifies, and each live frame.
        indexes = [("muted_id",)]
