"""Each JSON API handler's contract, declared beside it with `@api(...)`: the request body and
query it takes, the answer it gives and the statuses it may add to those its route implies.

The decorator decodes the body and the query through their schemas (forum.schemas) before the
handler runs and hands them over as `body=` and `query=`; forum.openapi reads the same contract
from the route table to write the document. Refusals name every bad field with a human message.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from forum.http import json_body
from forum.schemas import Request as RequestSchema
from forum.validation import ValidationError

S = TypeVar("S", bound=RequestSchema)
Handler = Callable[..., Awaitable[Response]]

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Contract:
    """What one handler takes and answers, for decoding and for the OpenAPI document."""

    summary: str
    #: The schema of the answer (None: no body), and its status.
    response: Any = None
    status: int = 200
    body: type[RequestSchema] | None = None
    query: type[RequestSchema] | None = None
    #: Unsafe methods need the X-CSRF-Token header (all but registering and signing in).
    csrf: bool = True
    #: Statuses beyond those the route implies (see forum.openapi.statuses).
    errors: frozenset[int] = frozenset()
    #: Query parameters whose default is a setting: {parameter: Settings attribute}.
    defaults: Mapping[str, str] = field(default_factory=dict)


def api(
    summary: str,
    *,
    response: Any = None,
    status: int = 200,
    body: type[RequestSchema] | None = None,
    query: type[RequestSchema] | None = None,
    csrf: bool = True,
    errors: tuple[int, ...] = (),
    defaults: Mapping[str, str] | None = None,
) -> Callable[[Handler], Handler]:
    """Declare a JSON API handler's contract; the handler gets `body=` and `query=` decoded."""
    contract = Contract(
        summary, response, status, body, query, csrf, frozenset(errors), dict(defaults or {})
    )

    def declare(handler: Handler) -> Handler:
        async def decoded(request: Request) -> Response:
            parsed: dict[str, Any] = {}
            if contract.body is not None:
                data = await json_body(request, csrf=contract.csrf)
                parsed["body"] = decode(contract.body, data)
            if contract.query is not None:
                parsed["query"] = decode_query(contract.query, request)
            return await handler(request, **parsed)

        decoded.__name__ = handler.__name__
        decoded.__doc__ = handler.__doc__
        decoded.contract = contract  # type: ignore[attr-defined]
        return decoded

    return declare


def contract_of(handler: object) -> Contract | None:
    """The contract a handler declared with @api, if any."""
    found = getattr(handler, "contract", None)
    return found if isinstance(found, Contract) else None


def respond(value: msgspec.Struct, status_code: int = 200) -> Response:
    """An answer encoded from its response schema."""
    return Response(_encoder.encode(value), status_code, media_type="application/json")


def decode(schema: type[S], data: dict[str, Any]) -> S:
    """data as schema, or ValidationError naming every bad, missing or unknown field."""
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError:
        pass  # the fast path failed: find every field to blame
    errors: dict[str, str] = {}
    fields = msgspec.structs.fields(schema)
    known = {info.encode_name for info in fields}
    for name in data:
        if name not in known:
            errors[name] = f"{name} is not a field of this request."
    for info in fields:
        if info.encode_name in data:
            try:
                msgspec.convert(data[info.encode_name], info.type)
            except msgspec.ValidationError:
                errors[info.encode_name] = _message(info, data[info.encode_name])
        elif info.required:
            errors[info.encode_name] = f"{_label(info)} is required."
    raise ValidationError(errors or {"json": "This request is not valid."})


def decode_query(schema: type[S], request: Request) -> S:
    """The query string as schema; unknown parameters are ignored, an empty one is absent (and
    refused when required) unless it is a whole number: `limit=` is no number, and the
    document says so.

    Whole numbers are ASCII digits only (forum.boundary's rule): msgspec alone would take
    "1e3" or "5.0" from text.
    """
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for info in msgspec.structs.fields(schema):
        raw = request.query_params.get(info.encode_name)
        base, _ = _unwrap(info.type)
        if raw == "" and base is int:
            errors[info.encode_name] = _message(info, raw)
            continue
        if raw is None or raw == "":
            if info.required:
                errors[info.encode_name] = f"{_label(info)} is required."
            continue
        try:
            if base is int and not (raw.isascii() and raw.isdigit()):
                raise msgspec.ValidationError
            # Present, so not None: lax msgspec would read the text "null" as None.
            data[info.encode_name] = msgspec.convert(raw, _present(info.type), strict=False)
        except msgspec.ValidationError:
            errors[info.encode_name] = _message(info, raw)
    if errors:
        raise ValidationError(errors)
    return msgspec.convert(data, schema)


def _present(annotation: Any) -> Any:
    """The type of a value that is there: `X | None` without the None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else annotation
    return annotation


def _unwrap(annotation: Any) -> tuple[Any, list[msgspec.Meta]]:
    """The type under `X | None` and `Annotated[X, Meta(...)]`, with its Meta."""
    annotation = _present(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        return base, [extra for extra in extras if isinstance(extra, msgspec.Meta)]
    return annotation, []


def _label(info: msgspec.structs.FieldInfo) -> str:
    _, metas = _unwrap(info.type)
    return next((meta.title for meta in metas if meta.title), info.encode_name)


def _message(info: msgspec.structs.FieldInfo, value: object) -> str:
    """What to tell the caller about a value its field refused."""
    base, metas = _unwrap(info.type)
    label = _label(info)
    limits: dict[str, Any] = {}
    override = None
    for meta in metas:
        limits.update({key: getattr(meta, key) for key in ("ge", "le", "min_length", "max_length")})
        override = (meta.extra or {}).get("message", override)
    if base is str and isinstance(value, str):
        low, high = limits.get("min_length"), limits.get("max_length")
        if low is not None and len(value) < low:
            if low == 1 or not value:
                return f"{label} is required."
            return f"{label} must be at least {low:,} characters."
        if high is not None and len(value) > high:
            return f"{label} must be at most {high:,} characters (it has {len(value):,})."
    if override:
        return str(override)
    if base is str:
        return f"{label} must be text."
    if base is bool:
        return f"{label} must be true or false."
    if base is int:
        low, high = limits.get("ge"), limits.get("le")
        return f"{label} must be a whole number from {low} to {high}."
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return f"{label} must be one of: " + ", ".join(str(item.value) for item in base) + "."
    return f"{label} is not valid."
