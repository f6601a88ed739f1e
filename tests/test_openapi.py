"""The OpenAPI document is generated from the route table and the handlers' schemas: it lists
exactly the API's routes, is valid OpenAPI 3.1, and what the server answers is what it says
(statuses spot-checked on the real server, bodies validated against the schemas)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate
from starlette.routing import Route

from forum.app import create_app
from forum.http import MAX_BODY_BYTES
from forum.openapi import build_document
from forum.settings import Settings
from models import Article, Role
from tests.conftest import LiveServer, Member, start_server, stop_server
from tests.test_moderation import enrol

PARAM = re.compile(r"\{(\w+)\}")


@pytest_asyncio.fixture(scope="module")
async def document(server: LiveServer) -> dict[str, Any]:
    """The document the running server serves."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def _answer_conforms(document: dict[str, Any], path: str, response: httpx.Response) -> None:
    """The response's status is listed for its operation and its body fits the schema."""
    method = response.request.method.lower()
    where = f"{method.upper()} {path} answered {response.status_code}: {response.text[:300]}"
    listed = document["paths"][path][method]["responses"]
    assert str(response.status_code) in listed, where
    content = listed[str(response.status_code)].get("content")
    if content is None:
        assert not response.content, where
        return
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    errors = list(
        Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(response.json())
    )
    assert not errors, f"{where}: {errors[0].message}"


def test_the_document_lists_exactly_the_api_routes_of_the_table() -> None:
    settings = Settings(secret_key="routes-only")
    app = create_app(settings)
    routes = {
        (route.path_format, method)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in (route.methods or set()) - {"HEAD"}
    }
    document = build_document(app.routes, settings)
    operations = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert operations == routes
    assert len(routes) > 20


async def test_the_served_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_limits_and_defaults_come_from_settings_and_constants() -> None:
    settings = Settings(secret_key="routes-only", page_size=7)
    document = build_document(create_app(settings).routes, settings)
    [limit] = [
        param
        for param in document["paths"]["/api/articles/{slug}/replies"]["get"]["parameters"]
        if param["name"] == "limit"
    ]
    assert limit["schema"]["default"] == 7
    reason = document["components"]["schemas"]["HideReason"]
    assert sorted(reason["enum"]) == ["abuse", "off-topic", "other", "spam"]


@pytest_asyncio.fixture
async def admin(server: LiveServer, db: None) -> AsyncIterator[Member]:
    """An admin: every access rule but authorship lets them in, so the body is what is judged."""
    someone = await enrol(server, "admin", role=Role.ADMIN)
    yield someone
    await someone.client.aclose()


@pytest_asyncio.fixture
async def targets(fresh_article: Article, admin: Member) -> dict[str, str]:
    """Path values naming real things: an article, the admin's own reply, the admin."""
    posted = await admin.post_reply("Something to point at", slug=fresh_article.slug)
    assert posted.status_code == 201, posted.text
    return {"slug": fresh_article.slug, "reply_id": str(posted.json()["id"]), "username": "nobody"}


def _with_body(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                yield method.upper(), path


async def test_every_json_body_is_refused_past_the_size_and_for_another_type(
    document: dict[str, Any], admin: Member, targets: dict[str, str]
) -> None:
    checked = 0
    for method, path in _with_body(document):
        url = PARAM.sub(lambda match: targets[match.group(1)], path)
        big = b'{"body": "' + b"x" * MAX_BODY_BYTES + b'"}'
        for content, kind, status in ((big, "application/json", 413), (b"a=1", "text/plain", 415)):
            headers = {**admin.headers(), "content-type": kind}
            response = await admin.client.request(method, url, content=content, headers=headers)
            assert response.status_code == status, f"{method} {url}: {response.text}"
            _answer_conforms(document, path, response)
            checked += 1
    assert checked >= 28


async def test_unknown_fields_are_refused_by_name(
    document: dict[str, Any], admin: Member, targets: dict[str, str]
) -> None:
    for method, path in _with_body(document):
        url = PARAM.sub(lambda match: targets[match.group(1)], path)
        response = await admin.client.request(
            method, url, json={"unexpected": 1}, headers=admin.headers()
        )
        assert response.status_code == 422, f"{method} {url}: {response.text}"
        assert "unexpected" in response.json()["errors"]
        _answer_conforms(document, path, response)


async def test_a_second_flag_is_a_409(
    document: dict[str, Any], member: Member, admin: Member, targets: dict[str, str]
) -> None:
    path = "/api/replies/{reply_id}/flags"
    url = path.format(reply_id=targets["reply_id"])
    for status in (201, 409):
        response = await member.client.post(url, json={"reason": "spam"}, headers=member.headers())
        assert response.status_code == status, response.text
        _answer_conforms(document, path, response)


async def test_what_readers_get_fits_the_document(
    document: dict[str, Any], admin: Member, member: Member, targets: dict[str, str]
) -> None:
    reads = [
        "/api/articles",
        "/api/articles/{slug}",
        "/api/articles/{slug}/replies",
        "/api/replies/{reply_id}",
        "/api/users/{username}",
        "/api/notifications",
        "/api/mod/flags",
        "/api/mod/log",
    ]
    targets = {**targets, "username": member.username}
    for path in reads:
        url = PARAM.sub(lambda match: targets[match.group(1)], path)
        for caller in (admin, member):
            _answer_conforms(document, path, await caller.client.get(url))
    path = "/api/users/{username}/suspend"
    url = path.format(username=member.username)
    body = {"reason": "Testing", "until": "2999-01-01T00:00:00+00:00"}
    _answer_conforms(
        document, path, await admin.client.post(url, json=body, headers=admin.headers())
    )


@pytest.fixture(scope="module")
def limited(
    server: LiveServer, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server with the sign-in and posting limits on and small."""
    process, live = start_server(
        database_url,
        tmp_path_factory.mktemp("limited"),
        RATE_LIMITS="on",
        RATE_LIMIT_POSTS="1/hour",
        RATE_LIMIT_NEW_ACCOUNT_POSTS="1/hour",
        RATE_LIMIT_LOGIN_ACCOUNT="1/hour",
    )
    yield live
    stop_server(process)


async def test_limits_answer_the_documented_429(
    document: dict[str, Any], limited: LiveServer, fresh_article: Article
) -> None:
    poster = await enrol(limited, "poster")
    async with poster.client:
        path = "/api/articles/{slug}/replies"
        url = path.format(slug=fresh_article.slug)
        for number, status in enumerate((201, 429)):
            body = {"body": f"Post number {number}"}
            response = await poster.client.post(url, json=body, headers=poster.headers())
            assert response.status_code == status, response.text
            _answer_conforms(document, path, response)
        assert int(response.headers["retry-after"]) >= 1
    async with httpx.AsyncClient(base_url=limited.url) as client:
        for status in (401, 429):
            credentials = {"username": poster.username, "password": "wrong password"}
            response = await client.post("/api/session", json=credentials)
            assert response.status_code == status, response.text
            _answer_conforms(document, "/api/session", response)


async def test_a_query_value_null_is_no_null(
    anon: httpx.AsyncClient, targets: dict[str, str]
) -> None:
    # Found by make fuzz: lax decoding read the text "null" as an absent value.
    for name in ("order", "limit", "parent", "cursor"):
        response = await anon.get(f"/api/articles/{targets['slug']}/replies?{name}=null")
        assert response.status_code == 422, name
        assert list(response.json()["errors"]) == [name]


async def test_a_reply_removed_while_answering_is_answered_as_the_caller_has_it(
    member: Member, fresh_article: Article
) -> None:
    # Found by make fuzz: a reply deleted between an edit and its answer was a 500.
    from forum.replies.api import FLAT
    from forum.replies.thread import single_node
    from models import Reply

    posted = await member.post_reply("Going soon", slug=fresh_article.slug)
    row = await Reply.get(id=posted.json()["id"])
    await Reply.filter(id=row.id).delete()
    node = await single_node(row, None, FLAT)
    assert node.reply.author.username == member.username
