"""What every schema of the JSON API builds on: requests that refuse unknown fields, answers,
the error shape, ids and times."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

from forum.boundary import ID_MAX

#: Most notifications one request marks read.
MARK_MAX = 1000
#: Longest actor name the audit log is filtered by (a username).
ACTOR_MAX = 30

DATE_TIME = {"format": "date-time"}
Id = Annotated[int, Meta(ge=1, le=ID_MAX, description="A row id.")]
Moment = Annotated[datetime, Meta(extra_json_schema=DATE_TIME)]


class Request(Struct, forbid_unknown_fields=True):
    """A request body or query: fields not declared are refused."""


class Response(Struct):
    """An answer."""


# Errors ------------------------------------------------------------------------------------


class Errors(Response):
    """Every refusal: a human message per field ("detail" when no field is to blame)."""

    errors: dict[str, str]


#: The OpenAPI document itself: any JSON object.
Document = dict[str, Any]
