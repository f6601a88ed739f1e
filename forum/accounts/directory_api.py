"""JSON API for finding members by name: the composer's @name suggestions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forum.accounts.directory import suggest_usernames
from forum.contracts import api, respond
from forum.http import require_user
from forum.schemas import NameQuery, NameSuggestions


@api(
    "Usernames starting with a prefix (for @mentions)",
    query=NameQuery,
    response=NameSuggestions,
    errors=(429,),
)
async def users(request: Request, query: NameQuery) -> Response:
    """GET /api/users?prefix=al: at most 10 usernames of members (not suspended) starting
    with the prefix, any case; 422 without a valid prefix, 429 when asked too often."""
    viewer = await require_user(request)
    names = await suggest_usernames(query.prefix, viewer, request.app.state.limiter)
    return respond(NameSuggestions(names))
