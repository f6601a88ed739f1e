"""Field errors, shown beside the field (HTML) or as {"errors": {field: message}} (API)."""

from __future__ import annotations


class ValidationError(Exception):
    """Bad input, keyed by field name; nothing has been written when this is raised."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def normalise_text(value: object) -> str:
    """A form or JSON value as text with Unix newlines (browsers send CRLF from textareas)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError
    return value.replace("\r\n", "\n").replace("\r", "\n")


def text_field(
    errors: dict[str, str],
    name: str,
    value: object,
    *,
    min_length: int,
    max_length: int,
    label: str,
    verbatim: bool = False,
) -> str:
    """Check a text field's type and length, recording a message in errors; returns the text.

    The text is stripped and gets Unix newlines, unless verbatim: a password is taken exactly as
    sent, or signing in with the same characters would fail.
    """
    if verbatim and isinstance(value, str):
        text = value
    else:
        try:
            text = normalise_text(value).strip()
        except TypeError:
            errors[name] = f"{label} must be text."
            return ""
    if len(text) < min_length:
        errors[name] = (
            f"{label} is required."
            if min_length == 1 or not text
            else f"{label} must be at least {min_length:,} characters."
        )
    elif len(text) > max_length:
        errors[name] = f"{label} must be at most {max_length:,} characters (it has {len(text):,})."
    return text
