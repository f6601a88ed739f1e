"""Signed tokens for one-click unsubscribe links (RFC 8058), one per subscription."""

from __future__ import annotations

import hmac

from itsdangerous import BadSignature, URLSafeSerializer


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="forum-unsubscribe")


def unsubscribe_token(secret: str, user_id: int, article_id: int) -> str:
    """The token that lets whoever holds it stop one user's mail from one thread."""
    return _serializer(secret).dumps([user_id, article_id])


def read_unsubscribe_token(secret: str, token: str) -> tuple[int, int] | None:
    """(user_id, article_id) from a genuine token, None for a tampered or foreign one."""
    try:
        value = _serializer(secret).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in value)
    ):
        return None
    # base64 decoding ignores the padding bits of the signature's last character, so a few
    # altered tokens still verify: only the exact token that was issued counts.
    if not hmac.compare_digest(unsubscribe_token(secret, *value).encode(), token.encode()):
        return None
    return value[0], value[1]
