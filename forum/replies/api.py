"""JSON API for replies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forum.accounts.identity import check_csrf, current_user
from forum.articles.service import article_or_404
from forum.boundary import parse_whole
from forum.errors import NotFound
from forum.http import json_body, require_user
from forum.replies import service
from forum.replies.thread import (
    LIMIT_MAX,
    ReplyNode,
    TreeShape,
    children_chunk,
    parse_cursor,
    parse_order,
    single_node,
    top_level_chunk,
    visible_reply,
)
from forum.urls import reply_permalink
from forum.validation import ValidationError
from forum.visibility import shows_body
from models import Reply

#: The API lists one level at a time: children are counted, not loaded.
FLAT = TreeShape(children_preview=0, levels=0)


def reply_json(request: Request, slug: str, node: ReplyNode) -> dict[str, object]:
    """The public shape of a reply; a stub carries no author and no text."""
    reply = node.reply
    return {
        "id": reply.id,
        "parent_id": reply.parent_id,
        "author": reply.author.username if node.shows_body else None,
        "body_html": reply.html if node.shows_body else "",
        "created_at": reply.created_at.isoformat(),
        "edited_at": reply.edited_at.isoformat() if reply.edited_at else None,
        "deleted": not node.shows_body,
        "reply_count": node.child_count,
        "url": request.app.state.settings.base_url + reply_permalink(slug, reply.id),
    }


def _parse_limit(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    limit = parse_whole(value, 1, LIMIT_MAX)
    if limit is None:
        raise ValidationError({"limit": f"limit must be a whole number from 1 to {LIMIT_MAX}."})
    return limit


async def list_replies(request: Request) -> Response:
    """GET /api/articles/{slug}/replies: one level of the thread, a chunk at a time."""
    article = await article_or_404(request.path_params["slug"])
    viewer = await current_user(request)
    params = request.query_params
    limit = _parse_limit(params.get("limit"), request.app.state.settings.page_size)
    cursor = parse_cursor(params.get("cursor"))
    order = parse_order(params.get("order"))
    parent_id = service.parse_parent_id(params.get("parent"), "parent")
    if parent_id is None:
        chunk = await top_level_chunk(
            article, viewer, order=order, cursor=cursor, limit=limit, shape=FLAT
        )
    else:
        parent = await visible_reply(parent_id, viewer)
        if parent is None or parent.article_id != article.id:
            raise NotFound("That reply does not exist in this discussion.")
        chunk = await children_chunk(parent, viewer, cursor=cursor, limit=limit, shape=FLAT)
    return JSONResponse(
        {
            "replies": [reply_json(request, article.slug, node) for node in chunk.nodes],
            "next_cursor": str(chunk.next_cursor) if chunk.next_cursor else None,
        }
    )


async def create_reply(request: Request) -> Response:
    """POST /api/articles/{slug}/replies: post a reply; 201 with the reply."""
    user = await require_user(request)
    data = await json_body(request)
    article = await article_or_404(request.path_params["slug"])
    reply = await service.post_reply(
        article,
        user,
        data.get("body"),
        data.get("parent_id"),
        bus=request.app.state.events,
        limiter=request.app.state.limiter,
        images=request.app.state.images,
        max_depth=request.app.state.settings.max_reply_depth,
    )
    # Just posted: nothing is under it yet, and its author sees it whole.
    node = ReplyNode(reply, shows_body(reply, user))
    return JSONResponse(reply_json(request, article.slug, node), status_code=201)


async def _reply_or_404(request: Request) -> Reply:
    reply = await visible_reply(request.path_params["reply_id"], await current_user(request))
    if reply is None:
        raise NotFound("That reply does not exist.")
    return reply


async def get_reply(request: Request) -> Response:
    """GET /api/replies/{id}: one reply."""
    reply = await _reply_or_404(request)
    node = await single_node(reply, await current_user(request), FLAT)
    return JSONResponse(reply_json(request, reply.article.slug, node))


async def update_reply(request: Request) -> Response:
    """PATCH /api/replies/{id}: edit one's own reply within the edit window."""
    user = await require_user(request)
    data = await json_body(request)
    reply = await _reply_or_404(request)
    window = request.app.state.settings.edit_window_seconds
    updated = await service.edit_reply(
        reply.id,
        user,
        data.get("body"),
        window,
        bus=request.app.state.events,
        images=request.app.state.images,
    )
    node = await single_node(updated, user, FLAT)
    return JSONResponse(reply_json(request, reply.article.slug, node))


async def delete_reply(request: Request) -> Response:
    """DELETE /api/replies/{id}: delete one's own reply (a stub stays if it has replies)."""
    user = await require_user(request)
    check_csrf(request, None)
    reply = await _reply_or_404(request)
    await service.delete_reply(reply.id, user, bus=request.app.state.events)
    return Response(status_code=204)
