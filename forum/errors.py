"""Errors that services raise and the app turns into JSON (under /api) or friendly pages."""

from __future__ import annotations


class NotFound(Exception):
    """The thing asked for does not exist, or the asker may not see it."""

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)
        self.message = message


class Forbidden(Exception):
    """The asker is known but may not do this."""

    def __init__(self, message: str = "You may not do that.") -> None:
        super().__init__(message)
        self.message = message


class SignInRequired(Exception):
    """The action needs a signed-in user."""

    message = "Sign in first."
