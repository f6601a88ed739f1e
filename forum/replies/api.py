"""JSON API for replies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forum.accounts.identity import check_csrf, current_user
from forum.articles.passages import find_passage
from forum.articles.service import article_or_404, article_to_post_in
from forum.contracts import api, respond
from forum.errors import NotFound
from forum.http import json_errors, require_user
from forum.replies import service, votes
from forum.replies.preview import preview_reply
from forum.replies.revisions import reply_versions
from forum.replies.thread import (
    Order,
    ReplyNode,
    TreeShape,
    children_chunk,
    parse_cursor,
    parse_position,
    single_node,
    top_level_chunk,
    visible_reply,
)
from forum.schemas import (
    NewReply,
    NoFields,
    PreviewIn,
    PreviewOut,
    ReplyChunk,
    ReplyEdit,
    ReplyOut,
    ReplyQuery,
    ReplyRevisions,
    ReplyVersion,
    VoteOut,
)
from forum.urls import reply_permalink
from forum.validation import ValidationError
from forum.visibility import shows_body
from models import Reply, User

#: The API lists one level at a time: children are counted, not loaded.
FLAT = TreeShape(children_preview=0, levels=0)


def _reply(request: Request, slug: str, node: ReplyNode, voted: bool = False) -> ReplyOut:
    """A reply as answered; a stub carries no author and no text."""
    reply = node.reply
    return ReplyOut(
        id=reply.id,
        parent_id=reply.parent_id,
        author=reply.author.username if node.shows_body else None,
        body_html=reply.html if node.shows_body else "",
        created_at=reply.created_at,
        edited_at=reply.edited_at,
        deleted=not node.shows_body,
        reply_count=node.child_count,
        url=request.app.state.settings.base_url + reply_permalink(slug, reply.id),
        score=reply.score,
        voted=voted,
        passage=reply.passage if node.shows_body else None,
        quote=reply.quote if node.shows_body else None,
        pinned=node.pinned,
    )


@api(
    "One level of the discussion, a chunk at a time",
    query=ReplyQuery,
    response=ReplyChunk,
    defaults={"limit": "page_size"},
)
async def list_replies(request: Request, query: ReplyQuery) -> Response:
    """GET /api/articles/{slug}/replies: one level of the thread, a chunk at a time."""
    article = await article_or_404(request.path_params["slug"])
    viewer = await current_user(request)
    limit = query.limit or request.app.state.settings.page_size
    order = query.order or Order.NEWEST
    parent_id = query.parent
    passage = find_passage(article, query.passage).anchor if query.passage is not None else None
    if passage is not None and parent_id is not None:
        raise ValidationError({"passage": "Replies about a passage answer the article: no parent."})
    if parent_id is None:
        cursor = parse_position(query.cursor, order)
        chunk = await top_level_chunk(
            article, viewer, order=order, cursor=cursor, limit=limit, shape=FLAT, passage=passage
        )
    else:
        parent = await visible_reply(parent_id, viewer)
        if parent is None or parent.article_id != article.id:
            raise NotFound("That reply does not exist in this discussion.")
        after = parse_cursor(query.cursor)
        chunk = await children_chunk(parent, viewer, cursor=after, limit=limit, shape=FLAT)
    # The pinned ones come with the first top-level chunk only, before it, in every order.
    nodes = [*chunk.pinned, *chunk.nodes]
    voted = await votes.has_voted([node.reply.id for node in nodes], viewer)
    replies = [_reply(request, article.slug, node, node.reply.id in voted) for node in nodes]
    return respond(ReplyChunk(replies, str(chunk.next_cursor) if chunk.next_cursor else None))


@api(
    "Reply to the article or to a reply",
    body=NewReply,
    response=ReplyOut,
    status=201,
    errors=(403, 404, 429),
)
async def create_reply(request: Request, body: NewReply) -> Response:
    """POST /api/articles/{slug}/replies: post a reply; 201 with the reply."""
    user = await require_user(request)
    article = await article_to_post_in(request.path_params["slug"])
    reply = await service.post_reply(
        article,
        user,
        body.body,
        body.parent_id,
        bus=request.app.state.events,
        limiter=request.app.state.limiter,
        images=request.app.state.images,
        max_depth=request.app.state.settings.max_reply_depth,
        passage=body.passage,
        quote=body.quote,
    )
    # Just posted: nothing is under it yet, and its author sees it whole.
    node = ReplyNode(reply, shows_body(reply, user))
    return respond(_reply(request, article.slug, node), 201)


@api(
    "A reply's Markdown rendered as the forum will show it (nothing is posted)",
    body=PreviewIn,
    response=PreviewOut,
    errors=(403, 429),
)
async def preview(request: Request, body: PreviewIn) -> Response:
    """POST /api/preview: {body} -> {html}, rendered and sanitised as a posted reply would be."""
    user = await require_user(request)
    html = await preview_reply(
        body.body, user, limiter=request.app.state.limiter, images=request.app.state.images
    )
    return respond(PreviewOut(html=html))


async def _reply_or_404(request: Request) -> Reply:
    reply = await visible_reply(request.path_params["reply_id"], await current_user(request))
    if reply is None:
        raise NotFound("That reply does not exist.")
    return reply


@api("One reply", response=ReplyOut)
async def get_reply(request: Request) -> Response:
    """GET /api/replies/{id}: one reply."""
    reply = await _reply_or_404(request)
    viewer = await current_user(request)
    node = await single_node(reply, viewer, FLAT)
    voted = reply.id in await votes.has_voted([reply.id], viewer)
    return respond(_reply(request, reply.article.slug, node, voted))


@api("Edit one's own reply (within the edit window)", body=ReplyEdit, response=ReplyOut)
async def update_reply(request: Request, body: ReplyEdit) -> Response:
    """PATCH /api/replies/{id}: edit one's own reply within the edit window."""
    user = await require_user(request)
    reply = await _reply_or_404(request)
    window = request.app.state.settings.edit_window_seconds
    updated = await service.edit_reply(
        reply.id,
        user,
        body.body,
        window,
        bus=request.app.state.events,
        images=request.app.state.images,
    )
    node = await single_node(updated, user, FLAT)
    return respond(_reply(request, reply.article.slug, node))


@api("Delete one's own reply (a stub stays when it has replies)", status=204)
async def delete_reply(request: Request) -> Response:
    """DELETE /api/replies/{id}: delete one's own reply (a stub stays if it has replies)."""
    user = await require_user(request)
    check_csrf(request, None)
    reply = await _reply_or_404(request)
    await service.delete_reply(reply.id, user, bus=request.app.state.events)
    return Response(status_code=204)


@api(
    "Up-vote a reply (once; again changes nothing)",
    body=NoFields,
    response=VoteOut,
    errors=(403, 404, 409),
)
async def vote(request: Request, body: NoFields) -> Response:
    """PUT /api/replies/{id}/vote: up-vote a reply; 200 {score, voted}."""
    user = await require_user(request)
    return await _voted(request, votes.vote, user)


@api("Take one's up-vote back", response=VoteOut, errors=(403, 404, 409))
async def unvote(request: Request) -> Response:
    """DELETE /api/replies/{id}/vote: take one's vote back; 200 {score, voted}."""
    user = await require_user(request)
    check_csrf(request, None)
    return await _voted(request, votes.unvote, user)


async def _voted(request: Request, change: votes.VoteChange, user: User) -> Response:
    try:
        state = await change(request.path_params["reply_id"], user, bus=request.app.state.events)
    except votes.VotesClosed as closed:
        return json_errors({"reply": closed.message}, status_code=409)
    return respond(VoteOut(score=state.score, voted=state.voted))


@api("Every text of a reply, oldest first (its edit history)", response=ReplyRevisions)
async def revisions(request: Request) -> Response:
    """GET /api/replies/{id}/revisions: a reply's texts, for those who may read it."""
    reply, versions = await reply_versions(
        request.path_params["reply_id"], await current_user(request)
    )
    listed = [
        ReplyVersion(
            version=version.version,
            body=version.source,
            body_html=version.html,
            edited_at=version.written_at,
            current=version.current,
        )
        for version in versions
    ]
    return respond(ReplyRevisions(reply_id=reply.id, versions=listed))
