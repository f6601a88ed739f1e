"""What account mail says: verification, password reset, sign-in link, address changed.

Only the words and the link; forum.notifications.sender queues nothing of its own here, it
delivers the AccountMail rows the account services write (forum.accounts.mailing).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from models import AccountMailKind

#: The page each kind's link opens (with ?token=...).
LINK_PATHS = {
    AccountMailKind.VERIFY_EMAIL: "/verify-email",
    AccountMailKind.RESET_PASSWORD: "/reset-password",
    AccountMailKind.SIGN_IN: "/sign-in",
}


@dataclass(frozen=True)
class AccountLetter:
    """One account mail's subject and its two bodies."""

    subject: str
    text: str
    html: str


def link_for(kind: AccountMailKind, base_url: str, token: str) -> str:
    """The absolute link a mail of this kind carries."""
    return f"{base_url}{LINK_PATHS[kind]}?token={token}"


def masked(address: str) -> str:
    """An address shown to someone who may not be its owner: n***@example.org."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _letter(subject: str, lines: list[str], link: str = "", button: str = "") -> AccountLetter:
    text = "\n\n".join([*lines[:1], *([link] if link else []), *lines[1:]]) + "\n"
    parts = [f"<p>{html.escape(lines[0])}</p>"]
    if link:
        parts.append(f'<p><a href="{html.escape(link)}">{html.escape(button)}</a></p>')
        parts.append(f'<p style="color:#666;font-size:small">{html.escape(link)}</p>')
    parts += [f"<p>{html.escape(line)}</p>" for line in lines[1:]]
    return AccountLetter(subject, text, "\n".join(parts))


def account_letter(
    kind: AccountMailKind, username: str, link: str = "", new_address: str = ""
) -> AccountLetter:
    """The mail of this kind for the account username (link: its token link, if any)."""
    if kind is AccountMailKind.VERIFY_EMAIL:
        return _letter(
            "Confirm your email address",
            [
                f"Open this link to confirm that this address belongs to the forum account "
                f"{username}:",
                "The link works for 48 hours. Until it is opened, the forum sends no "
                "notification mail to this address.",
                "If you did not ask for this, ignore this mail: nothing will be sent here.",
            ],
            link,
            "Confirm this address",
        )
    if kind is AccountMailKind.RESET_PASSWORD:
        return _letter(
            "Reset your password",
            [
                f"Someone (we hope you) asked to reset the password of the forum account "
                f"{username}. Choose a new one here:",
                "The link works for one hour and only once. Every signed-in session of the "
                "account ends when the password changes.",
                "If you did not ask for this, ignore this mail: your password stays as it is.",
            ],
            link,
            "Choose a new password",
        )
    if kind is AccountMailKind.SIGN_IN:
        return _letter(
            "Your sign-in link",
            [
                f"Open this link to sign in to the forum as {username}:",
                "The link works for 15 minutes and only once.",
                "If you did not ask for this, ignore this mail: no one can sign in without it.",
            ],
            link,
            "Sign in",
        )
    return _letter(
        "Your email address was changed",
        [
            f"The email address of the forum account {username} was changed to "
            f"{masked(new_address) if new_address else 'none'}. Mail will no longer come here.",
            "If you did not do this, reset your password from the sign-in page at once.",
        ],
    )
