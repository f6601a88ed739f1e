"""Signed tokens for the one-click unsubscribe links of notification mail (RFC 8058): one that
leaves one thread, one that stops all notification mail. Each is bound to its purpose by its own
salt, so neither can be passed off as the other."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

#: The salts name the purpose; "forum-unsubscribe" is the one mails sent before have in them.
LEAVE_THREAD_SALT = "forum-unsubscribe"
STOP_MAIL_SALT = "forum-stop-mail"


@dataclass(frozen=True)
class Unsubscribe:
    """What a genuine token lets its holder do: leave a thread, or (no article) stop all mail."""

    user_id: int
    article_id: int | None = None


def _serializer(secret: str, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=salt)


def unsubscribe_token(secret: str, user_id: int, article_id: int) -> str:
    """The token that lets whoever holds it stop one user's mail from one thread."""
    return str(_serializer(secret, LEAVE_THREAD_SALT).dumps([user_id, article_id]))


def stop_mail_token(secret: str, user_id: int) -> str:
    """The token that lets whoever holds it turn off all of one user's notification mail."""
    return str(_serializer(secret, STOP_MAIL_SALT).dumps([user_id]))


def _ids(secret: str, salt: str, token: str, length: int) -> list[int] | None:
    try:
        value = _serializer(secret, salt).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != length
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in value)
    ):
        return None
    # base64 decoding ignores the padding bits of the signature's last character, so a few
    # altered tokens still verify: only the exact token that was issued counts.
    issued = str(_serializer(secret, salt).dumps(value))
    if not hmac.compare_digest(issued.encode(), token.encode()):
        return None
    return value


def read_unsubscribe_token(secret: str, token: str) -> Unsubscribe | None:
    """What a genuine token allows; None for a tampered or foreign one."""
    thread = _ids(secret, LEAVE_THREAD_SALT, token, 2)
    if thread is not None:
        return Unsubscribe(thread[0], thread[1])
    everything = _ids(secret, STOP_MAIL_SALT, token, 1)
    if everything is not None:
        return Unsubscribe(everything[0])
    return None
