"""The JSON API's schemas of finding members by name (the composer's @name suggestions)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from forum.schemas.base import Request, Response


class NameQuery(Request):
    """The start of a username, as typed after @."""

    prefix: Annotated[
        str,
        Meta(
            title="prefix",
            min_length=1,
            max_length=30,
            pattern="^[A-Za-z0-9_-]+$",
            description="The start of a username (any case).",
            extra={"message": "prefix must be the start of a username: letters, digits, _ and -."},
        ),
    ]


class NameSuggestions(Response):
    """Usernames starting with the prefix: at most 10, members not suspended, in name order."""

    usernames: list[str]
