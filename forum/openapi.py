"""The JSON API's OpenAPI 3.1 document, generated from the route table and the contracts its
handlers declare (forum.contracts, forum.schemas); served at /api/openapi.json.

Nothing here describes an endpoint by hand: the operations are the table's /api/ routes, their
bodies, parameters and answers the declared schemas, and the error statuses follow from the
route (its access rule, its path parameters, its body) plus those the contract adds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from forum.access import Access, GuardedRoute
from forum.accounts.identity import CSRF_HEADER, SESSION_COOKIE
from forum.boundary import IdConvertor
from forum.contracts import Contract, api, contract_of
from forum.http import MAX_BODY_BYTES
from forum.schemas import Document, Errors, Id
from forum.settings import Settings

_REF = "#/components/schemas/{name}"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

#: What each error status means, for every operation that may answer it.
ERROR_STATUSES = {
    400: "The link's token is not valid (altered, incomplete, or for something else)",
    401: "Signed out (or, signing in, wrong username or password)",
    403: "Not allowed: role, suspension, someone else's reply, locked thread, or bad CSRF token",
    404: "Nothing at this address (article, reply or member)",
    409: "Conflict: the username is taken, or the reply was flagged before",
    413: f"The body is over {MAX_BODY_BYTES // 1024} KiB",
    410: "The link's token was used, replaced, or has expired",
    415: "The body is not application/json",
    422: "Invalid fields, each named with a message",
    429: "Too many requests; try again after Retry-After seconds",
}


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[tuple[GuardedRoute, str]]:
    """Every (route, method) of the JSON API in the table (HEAD left out: it follows GET)."""
    for route in routes:
        if isinstance(route, GuardedRoute) and route.path.startswith("/api/"):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield route, method


def statuses(route: GuardedRoute, method: str, contract: Contract) -> set[int]:
    """The error statuses this route and method may answer."""
    found = set(contract.errors)
    if route.access is not Access.ANYONE:
        found |= {401, 403}
    if method in UNSAFE and contract.csrf:
        found.add(403)
    if route.param_convertors:
        found.add(404)
    if contract.body is not None:
        found |= {413, 415, 422}
    if contract.query is not None:
        found.add(422)
    return found


def build_document(routes: Iterable[BaseRoute], settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes' JSON API."""
    types: set[Any] = {Errors}
    paths: dict[str, dict[str, Any]] = {}
    for route, method in api_routes(routes):
        contract = contract_of(route.handler)
        if contract is None:
            raise LookupError(f"{method} {route.path} declares no contract (forum.contracts.api)")
        types |= {kind for kind in (contract.body, contract.query, contract.response) if kind}
        paths.setdefault(route.path_format, {})[method.lower()] = _operation(
            route, method, contract, settings
        )
    ordered = sorted(types, key=lambda kind: getattr(kind, "__name__", str(kind)))
    schemas, components = msgspec.json.schema_components(ordered, ref_template=_REF)
    described = dict(zip(ordered, schemas, strict=True))
    for operations in paths.values():
        for operation in operations.values():
            _fill(operation, described, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "forum API",
            "version": "1.0.0",
            "description": (
                "Read articles and their threaded discussion; register, sign in, reply, follow, "
                'moderate. Errors are {"errors": {field: message}}. Unsafe requests other than '
                f"POST /api/accounts and POST /api/session need the {SESSION_COOKIE} cookie and "
                "the X-CSRF-Token header (the csrf_token answered by POST /api/session)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
        },
    }


def _operation(
    route: GuardedRoute, method: str, contract: Contract, settings: Settings
) -> dict[str, Any]:
    parameters = [_path_parameter(name, kind) for name, kind in route.param_convertors.items()]
    if contract.query is not None:
        parameters += _query_parameters(contract, settings)
    if method in UNSAFE and contract.csrf:
        header = {"type": "string", "description": "The csrf_token answered by POST /api/session."}
        parameters.append({"name": CSRF_HEADER, "in": "header", "required": True, "schema": header})
    success: dict[str, Any] = {"description": "Done"}
    if contract.response is not None:
        success["content"] = {"application/json": {"schema": contract.response}}
    responses: dict[str, Any] = {str(contract.status): success}
    for status in sorted(statuses(route, method, contract)):
        responses[str(status)] = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": Errors}},
        }
    if "429" in responses:
        retry = {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}
        responses["429"]["headers"] = {"Retry-After": retry}
    operation: dict[str, Any] = {
        "summary": contract.summary,
        "operationId": method.lower() + re.sub(r"\W+", "_", route.path_format[4:]).rstrip("_"),
        "responses": responses,
    }
    if route.handler.__doc__:
        operation["description"] = route.handler.__doc__.strip()
    if parameters:
        operation["parameters"] = parameters
    if contract.body is not None:
        operation["requestBody"] = {
            "required": any(info.required for info in msgspec.structs.fields(contract.body)),
            "content": {"application/json": {"schema": contract.body}},
        }
    return operation


def _path_parameter(name: str, convertor: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if isinstance(convertor, IdConvertor):
        schema = msgspec.json.schema(Id)
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(contract: Contract, settings: Settings) -> list[dict[str, Any]]:
    assert contract.query is not None
    _, components = msgspec.json.schema_components([contract.query], ref_template=_REF)
    properties = components[contract.query.__name__]["properties"]
    required = set(components[contract.query.__name__].get("required", []))
    parameters = []
    for name, schema in properties.items():
        # A query parameter is absent or has a value: `X | None` in the schema is just X.
        choices = [choice for choice in schema.get("anyOf", []) if choice != {"type": "null"}]
        if len(choices) == 1:
            schema = choices[0]
        schema = {key: value for key, value in schema.items() if key != "default"}
        if name in contract.defaults:
            schema["default"] = getattr(settings, contract.defaults[name])
        parameter = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        parameters.append(parameter)
    return parameters


def _fill(node: Any, described: dict[Any, Any], components: dict[str, Any]) -> None:
    """Replace the schema types left in an operation by their JSON Schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and not isinstance(value, dict):
                node[key] = described[value]
            else:
                _fill(value, described, components)
    elif isinstance(node, list):
        for item in node:
            _fill(item, described, components)


@api("This document", response=Document)
async def openapi_document(request: Request) -> Response:
    """GET /api/openapi.json: this API described as OpenAPI 3.1."""
    document = getattr(request.app.state, "openapi", None)
    if document is None:
        document = build_document(request.app.routes, request.app.state.settings)
        request.app.state.openapi = document
    return Response(msgspec.json.encode(document), media_type="application/json")
