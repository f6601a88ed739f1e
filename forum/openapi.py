"""The JSON API's OpenAPI 3.1 document, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forum.accounts.service import EMAIL_MAX, PASSWORD_MAX, PASSWORD_MIN
from forum.boundary import ID_MAX
from forum.replies.service import BODY_MAX
from forum.replies.thread import LIMIT_MAX


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(description: str) -> dict[str, Any]:
    return _json(_ref("Errors"), description)


_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "The csrf_token answered by POST /api/session.",
}
_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
#: Ids are PostgreSQL integers: any other number is no id (404 in a path, 422 elsewhere).
_ID = {"type": "integer", "minimum": 1, "maximum": ID_MAX}
_REPLY_ID = {"name": "reply_id", "in": "path", "required": True, "schema": _ID}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "forum API",
        "version": "1.0.0",
        "description": (
            "Read articles and their threaded discussion; register, sign in and reply. "
            'Errors are {"errors": {field: message}}. Unsafe requests other than '
            "POST /api/accounts and POST /api/session need the session cookie and X-CSRF-Token."
        ),
    },
    "paths": {
        "/api/accounts": {
            "post": {
                "summary": "Register an account",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewAccount")}},
                },
                "responses": {
                    "201": _json(_ref("Account"), "Created"),
                    "409": _errors("The username is taken"),
                    "415": _errors("Not application/json"),
                    "422": _errors("Invalid fields"),
                },
            }
        },
        "/api/session": {
            "post": {
                "summary": "Sign in (sets the session cookie)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Credentials")}},
                },
                "responses": {
                    "200": _json(_ref("Session"), "Signed in"),
                    "401": _errors("Wrong username or password"),
                    "415": _errors("Not application/json"),
                },
            },
            "delete": {
                "summary": "Sign out (deletes the session server-side)",
                "parameters": [_CSRF],
                "responses": {
                    "204": {"description": "Signed out"},
                    "403": _errors("Missing or bad CSRF token"),
                },
            },
        },
        "/api/articles": {
            "get": {
                "summary": "List articles",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"articles": {"type": "array", "items": _ref("Article")}},
                        },
                        "Articles",
                    )
                },
            }
        },
        "/api/articles/{slug}": {
            "get": {
                "summary": "One article with its rendered body",
                "parameters": [_SLUG],
                "responses": {
                    "200": _json(_ref("ArticleWithBody"), "The article"),
                    "404": _errors("No such article"),
                },
            }
        },
        "/api/articles/{slug}/replies": {
            "get": {
                "summary": "One level of the discussion, a chunk at a time",
                "parameters": [
                    _SLUG,
                    {
                        "name": "parent",
                        "in": "query",
                        "schema": _ID,
                        "description": "Replies to this reply; omitted: replies to the article.",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": LIMIT_MAX,
                            "default": 20,
                        },
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "next_cursor of the previous chunk.",
                    },
                    {
                        "name": "order",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["newest", "oldest"],
                            "default": "newest",
                        },
                        "description": "Top-level order; replies to replies are oldest first.",
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "replies": {"type": "array", "items": _ref("Reply")},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "A chunk of replies",
                    ),
                    "404": _errors("No such article or parent"),
                    "422": _errors("Invalid parameters"),
                },
            },
            "post": {
                "summary": "Reply to the article or to a reply",
                "parameters": [_SLUG, _CSRF],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewReply")}},
                },
                "responses": {
                    "201": _json(_ref("Reply"), "Posted"),
                    "401": _errors("Signed out"),
                    "403": _errors("Missing or bad CSRF token"),
                    "404": _errors("No such article, or the parent is not in it"),
                    "422": _errors("Invalid body"),
                },
            },
        },
        "/api/replies/{reply_id}": {
            "get": {
                "summary": "One reply",
                "parameters": [_REPLY_ID],
                "responses": {
                    "200": _json(_ref("Reply"), "The reply"),
                    "404": _errors("No such reply"),
                },
            },
            "patch": {
                "summary": "Edit one's own reply (within the edit window)",
                "parameters": [_REPLY_ID, _CSRF],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["body"],
                                "properties": {
                                    "body": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": BODY_MAX,
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("Reply"), "Updated"),
                    "401": _errors("Signed out"),
                    "403": _errors("Not the author, the edit window has closed, or bad CSRF token"),
                    "404": _errors("No such reply"),
                    "422": _errors("Invalid body"),
                },
            },
            "delete": {
                "summary": "Delete one's own reply (a stub stays when it has replies)",
                "parameters": [_REPLY_ID, _CSRF],
                "responses": {
                    "204": {"description": "Deleted"},
                    "401": _errors("Signed out"),
                    "403": _errors("Not the author, or bad CSRF token"),
                    "404": _errors("No such reply"),
                },
            },
        },
    },
    "components": {
        "schemas": {
            "Errors": {
                "type": "object",
                "properties": {
                    "errors": {"type": "object", "additionalProperties": {"type": "string"}}
                },
            },
            "NewAccount": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "pattern": "^[A-Za-z0-9_-]{3,30}$"},
                    "password": {
                        "type": "string",
                        "minLength": PASSWORD_MIN,
                        "maxLength": PASSWORD_MAX,
                    },
                    "email": {"type": ["string", "null"], "maxLength": EMAIL_MAX},
                },
            },
            "Account": {
                "type": "object",
                "properties": {
                    "username": {"type": "string"},
                    "email": {"type": ["string", "null"]},
                },
            },
            "Credentials": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
            },
            "Session": {
                "type": "object",
                "properties": {"username": {"type": "string"}, "csrf_token": {"type": "string"}},
            },
            "Article": {
                "type": "object",
                "properties": {
                    "slug": {"type": "string"},
                    "title": {"type": "string"},
                    "subtitle": {"type": "string"},
                    "url": {"type": "string"},
                    "live_url": {"type": ["string", "null"]},
                    "reply_count": {"type": "integer"},
                },
            },
            "ArticleWithBody": {
                "allOf": [
                    _ref("Article"),
                    {"type": "object", "properties": {"body_html": {"type": "string"}}},
                ]
            },
            "NewReply": {
                "type": "object",
                "required": ["body"],
                "properties": {
                    "body": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": BODY_MAX,
                        "description": "Markdown; raw HTML is not rendered.",
                    },
                    "parent_id": {**_ID, "type": ["integer", "null"]},
                },
            },
            "Reply": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "parent_id": {"type": ["integer", "null"]},
                    "author": {"type": ["string", "null"]},
                    "body_html": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "edited_at": {"type": ["string", "null"], "format": "date-time"},
                    "deleted": {"type": "boolean"},
                    "reply_count": {"type": "integer"},
                    "url": {"type": "string"},
                },
            },
        }
    },
}


async def openapi_document(request: Request) -> Response:
    """GET /api/openapi.json: this API described as OpenAPI 3.1."""
    return JSONResponse(DOCUMENT)


def _action(
    summary: str, params: list[dict[str, Any]], body: dict[str, Any] | None = None, ok: str = "200"
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [*params, _CSRF],
        "responses": {
            ok: {"description": "Done"},
            "401": _errors("Signed out"),
            "403": _errors("Not allowed (role, suspension) or bad CSRF token"),
            "404": _errors("Not found"),
            "422": _errors("Invalid fields"),
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


_USERNAME = {"name": "username", "in": "path", "required": True, "schema": {"type": "string"}}
_REASON = {"type": "string", "enum": ["spam", "abuse", "off-topic", "other"]}
_REASON_BODY = {
    "type": "object",
    "required": ["reason"],
    "properties": {
        "reason": _REASON,
        "note": {
            "type": "string",
            "maxLength": 500,
            "description": "Required when reason is other.",
        },
    },
}

DOCUMENT["paths"].update(
    {
        "/api/replies/{reply_id}/hide": {
            "post": _action("Hide a reply (moderators)", [_REPLY_ID], _REASON_BODY)
        },
        "/api/replies/{reply_id}/unhide": {
            "post": _action("Unhide a reply (moderators)", [_REPLY_ID])
        },
        "/api/replies/{reply_id}/flags": {
            "post": {
                **_action("Flag a reply for the moderators", [_REPLY_ID], _REASON_BODY, ok="201"),
            }
        },
        "/api/replies/{reply_id}/flags/dismiss": {
            "post": _action("Dismiss a reply's flags (moderators)", [_REPLY_ID])
        },
        "/api/articles/{slug}/lock": {
            "post": _action("Lock a thread: no new replies (moderators)", [_SLUG])
        },
        "/api/articles/{slug}/unlock": {"post": _action("Unlock a thread (moderators)", [_SLUG])},
        "/api/articles/{slug}/subscription": {
            "post": _action("Follow a thread", [_SLUG]),
            "delete": _action("Leave a thread (no more notifications from it)", [_SLUG]),
        },
        "/api/users/{username}": {
            "get": {
                "summary": "Role and suspension state",
                "parameters": [_USERNAME],
                "responses": {"200": {"description": "The user"}, "404": _errors("No such user")},
            }
        },
        "/api/users/{username}/suspend": {
            "post": _action(
                "Suspend a user (moderators)",
                [_USERNAME],
                {
                    "type": "object",
                    "required": ["reason"],
                    "properties": {
                        "reason": {"type": "string", "maxLength": 500},
                        "until": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": "Omitted: for good.",
                        },
                        "hide_replies": {"type": "boolean"},
                    },
                },
            )
        },
        "/api/users/{username}/unsuspend": {
            "post": _action("Lift a suspension (moderators)", [_USERNAME])
        },
        "/api/users/{username}/role": {
            "post": _action(
                "Set a role (admins)",
                [_USERNAME],
                {
                    "type": "object",
                    "required": ["role"],
                    "properties": {
                        "role": {"type": "string", "enum": ["reader", "moderator", "admin"]}
                    },
                },
            )
        },
        "/api/mod/flags": {
            "get": {
                "summary": "The flag queue, most-flagged first (moderators)",
                "responses": {
                    "200": {"description": "{flags: [...]}"},
                    "401": _errors("Signed out"),
                    "403": _errors("Not a moderator"),
                },
            }
        },
        "/api/mod/log": {
            "get": {
                "summary": "The audit log, newest first (moderators)",
                "parameters": [
                    {"name": "action", "in": "query", "schema": {"type": "string"}},
                    {"name": "actor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "{entries: [...]}"},
                    "401": _errors("Signed out"),
                    "403": _errors("Not a moderator"),
                },
            }
        },
        "/api/notifications": {
            "get": {
                "summary": "Unread count and newest notifications",
                "responses": {
                    "200": {"description": "{unread, items}"},
                    "401": _errors("Signed out"),
                },
            }
        },
        "/api/notifications/read": {
            "post": _action(
                "Mark notifications read (all when ids is omitted)",
                [],
                {
                    "type": "object",
                    "properties": {"ids": {"type": "array", "items": _ID}},
                },
            )
        },
    }
)
