"""Bad input answers 4xx, never 5xx, and writes nothing: properties over the app's own routes,
its OpenAPI document and its templates, so that a new route or field is covered without a list
here to keep up to date."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
import websockets
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from tortoise import Tortoise

from forum.app import create_app
from forum.boundary import ID_MAX, parse_id
from forum.http import MAX_BODY_BYTES, PayloadTooLarge, read_body
from forum.openapi import build_document
from forum.settings import Settings
from models import Article
from tests.conftest import PASSWORD, PROJECT_ROOT, LiveServer, Member, forum_command, sign_up

#: What goes into a path segment (percent-encoded where it is not plain ASCII).
BAD_SEGMENTS = ["²", "0", "2147483648", "9223372036854775808", "a%00b", "%ED%A0%80"]
#: What goes into a query value, as it is written in the URL.
#: An empty value too: a whole number left empty is no number (fuzzing found `?limit=` accepted).
BAD_QUERY_VALUES = ["", "²", "0", "2147483648", "9223372036854775808", "a%00b", "%ED%A0%80"]
#: What goes into a JSON property, as raw JSON text (a lone surrogate cannot be written otherwise).
BAD_JSON_VALUES = {
    "NUL": '"a\\u0000b"',
    "lone surrogate": '"\\ud800"',
    "0": "0",
    "2**31": str(2**31),
    "2**63": str(2**63),
    "superscript two": '"²"',
    "20,000 deep": "[" * 20_000 + "]" * 20_000,
}
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
TEMPLATES = PROJECT_ROOT / "templates"


def _routes() -> list[Route | WebSocketRoute]:
    app = create_app(Settings(secret_key="routes-only"))
    return [route for route in app.routes if isinstance(route, Route | WebSocketRoute)]


#: The app's own OpenAPI document, generated from its route table.
DOCUMENT = build_document(_routes(), Settings(secret_key="routes-only"))


def _types(schema: dict[str, Any]) -> set[str]:
    schema = _resolve(schema)
    if "anyOf" in schema:
        return set().union(*(_types(choice) for choice in schema["anyOf"]))
    kind = schema.get("type", "string")
    return set(kind) if isinstance(kind, list) else {kind}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def _template_query_names() -> set[str]:
    """Query parameter names in the templates' own links (?after=, &amp;cursor=, ...) and in
    their forms that submit with GET."""
    names: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        names |= set(re.findall(r"[?&](?:amp;)?([a-z_]+)=", text))
        for form in re.findall(r'<form[^>]*method="get".*?</form>', text, flags=re.S):
            names |= set(re.findall(r'\bname="([^"{]+)"', form))
    return names


def _template_field_names() -> set[str]:
    """The name="..." of every form control in the templates (and of each _field.html include)."""
    names: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<(?:input|textarea|select|button)\b[^>]*>", text):
            names |= set(re.findall(r'\bname="([^"{]+)"', tag))
        names |= set(re.findall(r'\{%\s*with\s+name="([^"]+)"', text))
    return names


async def _row_counts() -> dict[str, int]:
    return {
        f"{app}.{name}": await model.all().count()
        for app, models in Tortoise.apps.items()
        for name, model in models.items()
    }


def _assert_errors(response: httpx.Response, *fields: str) -> None:
    """A 4xx with {"errors": {field: message}}; a 422 (bad input) names one of fields."""
    where = f"{response.request.method} {response.request.url}"
    assert 400 <= response.status_code < 500, f"{where}: {response.status_code} {response.text}"
    errors = response.json()["errors"]
    assert isinstance(errors, dict) and errors, where
    assert all(isinstance(message, str) and message for message in errors.values()), where
    if fields and response.status_code == 422:
        assert set(errors) & set(fields), f"{where}: {errors} names none of {fields}"


@pytest_asyncio.fixture
async def admin(server: LiveServer) -> AsyncIterator[Member]:
    """A signed-in admin: the deepest any request gets before its input is checked."""
    someone = await sign_up(server)
    forum_command(server, "promote", someone.username, "--role", "admin")
    yield someone
    await someone.client.aclose()


@pytest_asyncio.fixture
async def targets(fresh_article: Article, member: Member) -> dict[str, str]:
    """Good values for every path parameter: an article, a reply in it, a member."""
    posted = await member.post_reply("Something to point at", slug=fresh_article.slug)
    assert posted.status_code == 201, posted.text
    return {
        "slug": fresh_article.slug,
        "reply_id": str(posted.json()["id"]),
        "username": member.username,
        "token": "no-such-token",
    }


def _fill(path: str, targets: dict[str, str], bad: tuple[str, str] | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if bad is not None and bad[0] == name:
            return quote(bad[1], safe="%")
        # Parameters no target names (the image proxy's signature, say) get one that names nothing.
        return targets.get(name, "no-such-value")

    return PARAM.sub(value, path)


def test_the_id_parser_and_the_path_convertor_agree() -> None:
    from starlette.convertors import CONVERTOR_TYPES

    pattern = re.compile(CONVERTOR_TYPES["id"].regex)
    for text in ["1", "9", "10", "999999999", "1000000000", "2147483647", "2147483639"]:
        assert pattern.fullmatch(text) and parse_id(text) == int(text)
    for text in ["0", "01", "2147483648", "2147483650", "2200000000", "9999999999", "²", "1²"]:
        assert not pattern.fullmatch(text) and parse_id(text) is None
    for number in range(ID_MAX - 2000, ID_MAX + 2000):
        assert bool(pattern.fullmatch(str(number))) == (number <= ID_MAX)
    assert parse_id(ID_MAX) == ID_MAX and parse_id(ID_MAX + 1) is None and parse_id(True) is None


async def test_bad_path_segments_are_never_a_server_error(
    server: LiveServer, anon: httpx.AsyncClient, member: Member, targets: dict[str, str]
) -> None:
    routes = _routes()
    checked = 0
    for route in routes:
        params = PARAM.findall(route.path)
        for name in params:
            for segment in BAD_SEGMENTS:
                path = _fill(route.path, targets, (name, segment))
                if isinstance(route, WebSocketRoute):
                    url = "ws" + server.url.removeprefix("http") + path
                    try:
                        async with websockets.connect(url, open_timeout=20):
                            pass
                    except websockets.InvalidStatus as refused:
                        assert refused.response.status_code < 500, path
                    except websockets.ConnectionClosed:
                        pass
                    checked += 1
                    continue
                for method in sorted(route.methods or ()):
                    for client, headers in ((anon, {}), (member.client, member.headers())):
                        body: dict[str, Any] = {}
                        if method in ("POST", "PATCH", "PUT", "DELETE"):
                            if path.startswith("/api/"):
                                body = {"json": {}}
                            else:
                                body = {"data": {"csrf_token": member.csrf}}
                        response = await client.request(method, path, headers=headers, **body)
                        assert response.status_code < 500, f"{method} {path}: {response.text}"
                        checked += 1
    assert checked > 300


async def test_bad_query_values_are_refused_with_a_field_message(
    db: None, admin: Member, targets: dict[str, str]
) -> None:
    before = await _row_counts()
    for method, path, operation in _operations():
        if method != "GET":
            continue
        for param in operation.get("parameters", []):
            if param["in"] != "query":
                continue
            integer = "integer" in _types(param["schema"])
            for value in BAD_QUERY_VALUES:
                url = _fill(path, targets) + f"?{param['name']}={value}"
                response = await admin.client.get(url)
                assert response.status_code < 500, f"{url}: {response.text}"
                if integer or "%00" in value:
                    _assert_errors(response, param["name"])
    assert await _row_counts() == before


async def test_bad_query_values_on_pages_are_never_a_server_error(
    db: None, admin: Member, targets: dict[str, str]
) -> None:
    names = _template_query_names()
    assert {"after", "cursor", "next", "order", "action", "actor"} <= names
    before = await _row_counts()
    for route in _routes():
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        if route.path.startswith("/api/"):
            continue
        for name in sorted(names):
            for value in BAD_QUERY_VALUES:
                url = _fill(route.path, targets) + f"?{name}={value}"
                response = await admin.client.get(url)
                assert response.status_code < 500, f"{url}: {response.text}"
                if "%00" in value:
                    assert 400 <= response.status_code < 500, url
    # A thread page shown (an unknown value of a parameter it ignores is no refusal) records
    # the reader's visit, for "new since your last visit": the page's doing, not the input's.
    after = await _row_counts()
    assert after.pop("models.ThreadVisit") >= before.pop("models.ThreadVisit")
    assert after == before


def _good_value(name: str, schema: dict[str, Any]) -> Any:
    """A value the property accepts, so that only the injected one is wrong."""
    schema = _resolve(schema)
    if "enum" in schema:
        return schema["enum"][0]
    if name == "username":
        return "new_" + uuid.uuid4().hex[:10]
    if name == "password":
        return PASSWORD
    kinds = _types(schema)
    if "boolean" in kinds:
        return False
    if "string" in kinds and "null" not in kinds:
        return f"Fine text {uuid.uuid4().hex}"
    return None  # optional: left out


def _bodies(schema: dict[str, Any]) -> Iterator[tuple[str, str, str, bool]]:
    """(property, label, raw JSON body, must be refused) with one bad value in one property."""
    properties: dict[str, Any] = schema.get("properties", {})
    for target, property_schema in properties.items():
        for label, raw in BAD_JSON_VALUES.items():
            good = {
                name: value
                for name, sub in properties.items()
                if name != target and (value := _good_value(name, sub)) is not None
            }
            good[target] = "__BAD__"
            if "array" in _types(property_schema):
                raw = f"[{raw}]"
            text = json.dumps(good).replace('"__BAD__"', raw)
            lenient = label == "superscript two" and "string" in _types(property_schema)
            yield target, label, text, not lenient
    good = {name: _good_value(name, sub) for name, sub in properties.items()}
    text = json.dumps({name: value for name, value in good.items() if value is not None})
    yield "json", "lone surrogate key", '{"\\ud800": 1, ' + text[1:], True


async def test_bad_json_values_are_refused_and_write_nothing(
    db: None, admin: Member, targets: dict[str, str]
) -> None:
    checked = 0
    for method, path, operation in _operations():
        if "requestBody" not in operation:
            continue
        url = _fill(path, targets)
        schema = _resolve(operation["requestBody"]["content"]["application/json"]["schema"])
        bodies = sorted(_bodies(schema), key=lambda body: not body[3])  # refused ones first
        before = await _row_counts()
        for target, label, text, refused in bodies:
            if not refused and before:  # all refused ones sent: the rest may write
                assert await _row_counts() == before, f"{method} {url} wrote rows"
                before = {}
            response = await admin.client.request(
                method,
                url,
                content=text.encode(),
                headers={**admin.headers(), "content-type": "application/json"},
            )
            where = f"{method} {url} with {label} in {target}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if refused:
                _assert_errors(response, target, "json")
            checked += 1
        if before:
            assert await _row_counts() == before, f"{method} {url} wrote rows"
    assert checked > 50


async def test_a_nul_in_any_form_field_writes_nothing(
    db: None, admin: Member, targets: dict[str, str]
) -> None:
    fields = _template_field_names()
    assert {"body", "reason", "note", "username", "password", "email", "parent_id"} <= fields
    checked = 0
    for route in _routes():
        if not isinstance(route, Route) or "POST" not in (route.methods or ()):
            continue
        if route.path.startswith("/api/"):
            continue
        url = _fill(route.path, targets)
        before = await _row_counts()
        for field in sorted(fields - {"csrf_token"}):
            form = {field: "a\x00b", "csrf_token": admin.csrf}
            response = await admin.client.post(url, data=form)
            where = f"POST {url} with a NUL in {field}"
            assert 400 <= response.status_code < 500, f"{where}: {response.status_code}"
            checked += 1
        assert await _row_counts() == before, f"POST {url} wrote rows"
    assert checked > 100


async def test_a_body_without_content_length_is_refused_at_the_limit(
    member: Member, targets: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"body": "'
        for _ in range(1024):  # 1 MiB in all, past the 64 KiB limit
            yield b"x" * 1024
        yield b'"}'

    response = await member.client.post(
        f"/api/articles/{targets['slug']}/replies",
        content=chunks(),
        headers={**member.headers(), "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["errors"]


async def test_a_body_without_content_length_is_read_no_further_than_the_limit() -> None:
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": taken < 10_000}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(PayloadTooLarge):
        await read_body(request)
    assert taken == MAX_BODY_BYTES // 1024 + 1


async def test_a_csrf_token_that_is_not_ascii_is_refused(
    member: Member, targets: dict[str, str]
) -> None:
    url = f"/api/articles/{targets['slug']}/replies"
    response = await member.client.post(
        url, json={"body": "Hello"}, headers={"X-CSRF-Token": "²".encode()}
    )
    _assert_errors(response, "csrf_token")
    assert response.status_code == 403
    page = await member.client.post(
        f"/a/{targets['slug']}/replies", data={"body": "Hello", "csrf_token": "²"}
    )
    assert page.status_code == 403


async def test_a_deeply_nested_body_is_a_field_message(
    member: Member, targets: dict[str, str]
) -> None:
    nested = "[" * 20_000 + "]" * 20_000
    response = await member.client.post(
        f"/api/articles/{targets['slug']}/replies",
        content=nested.encode(),
        headers={**member.headers(), "content-type": "application/json"},
    )
    _assert_errors(response, "json")
    assert response.status_code == 422
