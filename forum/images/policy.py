"""How a reply's Markdown image is rendered, and the signed proxy paths that serve it.

One ImagePolicy is built from the settings at start-up and handed down to the Markdown renderer
through the reply services; there is no module-level state beyond the safe default, LINK_IMAGES.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import urlsplit

from itsdangerous import Signer

from forum.settings import Settings

LINK = "link"
PROXY = "proxy"
#: Longer image addresses are shown as links: a proxy path must stay a reasonable URL.
MAX_URL_LENGTH = 2048


def is_web_url(url: str) -> bool:
    """Whether url is an absolute http(s) address with a host: the only kind proxied."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class ImagePolicy:
    """Images as links (mode "link") or through /img/{signature}/{encoded} (mode "proxy")."""

    def __init__(self, mode: str, secret_key: str = "") -> None:
        if mode not in (LINK, PROXY):
            raise ValueError(f"unknown image mode {mode!r}")
        if mode == PROXY and not secret_key:
            raise ValueError("the image proxy needs a secret key to sign its addresses")
        self.mode = mode
        self._signer = (
            Signer(secret_key, salt="forum.images", digest_method=hashlib.sha256)
            if mode == PROXY
            else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ImagePolicy:
        """The policy REPLY_IMAGES asks for, signing with SECRET_KEY."""
        return cls(settings.reply_images, settings.secret_key)

    def proxied(self, url: str) -> str | None:
        """The forum's own path serving the image at url; None when it is to be a link."""
        if self._signer is None or len(url) > MAX_URL_LENGTH or not is_web_url(url):
            return None
        encoded = base64.urlsafe_b64encode(url.encode()).rstrip(b"=")
        signature = self._signer.get_signature(encoded)
        return f"/img/{signature.decode()}/{encoded.decode()}"

    def target(self, signature: str, encoded: str) -> str | None:
        """The address a proxy path was signed for; None when unsigned, tampered with, or the
        proxy is off (REPLY_IMAGES=link)."""
        if self._signer is None:
            return None
        try:
            if not self._signer.verify_signature(encoded.encode(), signature.encode()):
                return None
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeError, ValueError):
            return None
        return url if is_web_url(url) else None


#: The default: no image is ever loaded, each is a link to where it lives.
LINK_IMAGES = ImagePolicy(LINK)
