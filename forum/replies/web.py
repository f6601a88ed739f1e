"""HTML routes for replies: post, permalink, reply form, edit, delete, votes and the edit
history (htmx and plain forms)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts.identity import current_user
from forum.articles.passages import find_passage, normalise
from forum.articles.service import article_or_404
from forum.boundary import parse_id
from forum.errors import Forbidden
from forum.http import is_htmx, render, require_user, verified_form
from forum.pages import article_context, reply_from_path
from forum.ratelimits import RateLimited
from forum.replies import service, votes
from forum.replies.landing import landing_path
from forum.replies.muted import mark_muted
from forum.replies.preview import preview_reply
from forum.replies.revisions import reply_versions
from forum.replies.thread import (
    Order,
    ReplyNode,
    ancestors,
    children_chunk,
    parse_cursor,
    single_node,
    tree_shape,
    visible_reply,
)
from forum.replies.visits import mark_new, visit_thread
from forum.urls import article_path, reply_path, reply_permalink
from forum.validation import ValidationError
from forum.visibility import shows_body
from models import Article, Reply

_ORDERS = {order.value for order in Order}


async def _permalink_context(request: Request, article: Article, reply: Reply) -> dict[str, Any]:
    viewer = await current_user(request)
    shape = tree_shape(request.app.state.settings)
    after_param = request.query_params.get("after")
    after = parse_cursor(after_param, "after")
    # ?after=0 (the "continue this thread" link) asks for the children from the first one.
    if after_param is None:
        node = await single_node(reply, viewer, shape)
        chunk = None
    else:
        node = ReplyNode(reply, shows_body(reply, viewer))
        chunk = await children_chunk(
            reply, viewer, cursor=after, limit=request.app.state.settings.page_size, shape=shape
        )
    ancestors_ = await ancestors(reply, viewer, request.app.state.settings.permalink_ancestors)
    await votes.mark_votes([node, *(chunk.nodes if chunk else [])], viewer)
    await mark_muted([node, *(chunk.nodes if chunk else []), *ancestors_.nodes], viewer)
    since = await visit_thread(viewer, article, served=False)
    mark_new([node, *(chunk.nodes if chunk else [])], viewer, since)
    return {
        "article": article,
        "node": node,
        "ancestors": ancestors_,
        "children": chunk,
        "after": after,
    }


async def permalink(request: Request) -> Response:
    """The thread opened at one reply; with ?after= (htmx), the next chunk of its replies."""
    article, reply = await reply_from_path(request)
    context = await _permalink_context(request, article, reply)
    if is_htmx(request) and context["children"] is not None:
        nodes = context["children"].nodes
        # Focus moves to the first reply loaded, not to the page (the link is gone).
        focus = {"X-Focus": f"reply-{nodes[0].reply.id}"} if nodes else None
        return await render(request, "_children_chunk.html", context, headers=focus)
    return await render(request, "reply.html", context)


async def reply_form(request: Request) -> Response:
    """The form to answer a reply: in place with htmx, on the permalink page without."""
    article, reply = await reply_from_path(request)
    await require_user(request)
    context = {"article": article, "parent": reply, "form": {"body": ""}, "errors": {}}
    if is_htmx(request):
        return await render(request, "_reply_form.html", context)
    context.update(await _permalink_context(request, article, reply))
    context["open_form"] = True
    return await render(request, "reply.html", context)


async def create_reply(request: Request) -> Response:
    """Post a reply; htmx gets the rendered reply and a fresh form, a plain form a 303."""
    article = await article_or_404(request.path_params["slug"])
    user = await require_user(request)
    form = await verified_form(request)
    parent_id = form.get("parent_id")
    body = form.get("body")
    try:
        reply = await service.post_reply(
            article,
            user,
            body,
            parent_id,
            bus=request.app.state.events,
            limiter=request.app.state.limiter,
            images=request.app.state.images,
            max_depth=request.app.state.settings.max_reply_depth,
            passage=form.get("passage"),
            quote=form.get("quote"),
        )
    except ValidationError as error:
        return await _form_errors(request, article, form, error.errors)
    except RateLimited as limited:
        response = await _form_errors(
            request, article, form, {limited.field: limited.message}, status_code=429
        )
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    settings = request.app.state.settings
    if not is_htmx(request):
        # Back to the thread at the new reply (see landing_path), not to the reply's own page.
        asked = form.get("order")
        order = Order(asked) if isinstance(asked, str) and asked in _ORDERS else Order.NEWEST
        where = await landing_path(
            article, reply, user, order, settings.page_size, tree_shape(settings)
        )
        return RedirectResponse(where, status_code=303)
    node = await single_node(reply, user, tree_shape(settings))
    context = {
        "article": article,
        "node": node,
        "parent": await visible_reply(reply.parent_id, user) if reply.parent_id else None,
        "order": form.get("order") or "newest",
        "form": {"body": ""},
        "errors": {},
    }
    return await render(
        request,
        "_reply_posted.html",
        context,
        status_code=201,
        headers={"X-Focus": f"reply-{reply.id}"},
    )


async def preview(request: Request) -> Response:
    """The reply form's text rendered as it will be posted (an htmx fragment below the form)."""
    user = await require_user(request)
    form = await verified_form(request)
    context: dict[str, Any] = {"html": "", "error": ""}
    status = 200
    try:
        context["html"] = await preview_reply(
            form.get("body"),
            user,
            limiter=request.app.state.limiter,
            images=request.app.state.images,
        )
    except ValidationError as error:
        context["error"], status = error.errors.get("body", "Nothing to preview."), 422
    except RateLimited as limited:
        context["error"], status = limited.message, 429
    return await render(request, "_preview.html", context, status_code=status)


async def _form_errors(
    request: Request,
    article: Article,
    form: Any,
    errors: dict[str, str],
    status_code: int = 422,
) -> Response:
    """Show the reply form again with its text and the errors beside the fields (422)."""
    parent = None
    parent_id = parse_id(form.get("parent_id"))
    if parent_id is not None:
        parent = await visible_reply(parent_id, await current_user(request))
    context: dict[str, Any] = {
        "article": article,
        "parent": parent,
        "order": form.get("order") or "newest",
        "form": {
            "body": form.get("body") or "",
            "passage": form.get("passage") or "",
            "quote": form.get("quote") or "",
        },
        "errors": errors,
    }
    if is_htmx(request):
        return await render(request, "_reply_form.html", context, status_code=status_code)
    if parent is None and context["form"]["passage"]:
        # Back to the composer of that passage (the article's if the anchor is no passage).
        try:
            passage = find_passage(article, context["form"]["passage"])
        except ValidationError:
            passage = None
        if passage is not None:
            context["passage"] = passage
            return await render(request, "discuss.html", context, status_code=status_code)
    if parent is not None:
        context.update(await _permalink_context(request, article, parent))
        context["open_form"] = True
        return await render(request, "reply.html", context, status_code=status_code)
    context.update(await article_context(request, article))
    return await render(request, "article.html", context, status_code=status_code)


async def discuss(request: Request) -> Response:
    """The composer of a reply about one passage of the article (?passage=ANCHOR), its quote
    filled with the whole passage (or with ?quote= when those are words of it): what the
    passage's "discuss" link opens without JavaScript."""
    article = await article_or_404(request.path_params["slug"])
    passage = find_passage(article, request.query_params.get("passage"))
    asked = normalise(request.query_params.get("quote", ""))
    quote = asked if asked and asked in passage.text else passage.text
    context = {
        "article": article,
        "passage": passage,
        "parent": None,
        "form": {"body": "", "passage": passage.anchor, "quote": quote},
        "errors": {},
    }
    return await render(request, "discuss.html", context)


async def edit_reply(request: Request) -> Response:
    """Edit one's own reply: the form (in place with htmx), then the updated reply."""
    article, reply = await reply_from_path(request)
    user = await require_user(request)
    context: dict[str, Any] = {"article": article, "reply": reply, "errors": {}}
    window = request.app.state.settings.edit_window_seconds
    if request.method == "GET":
        context["form"] = {"body": reply.source}
        if datetime.now(UTC) > service.editable_until(reply, window):
            context["errors"] = {"body": service.EditWindowClosed(window).message}
        template = "_edit_form.html" if is_htmx(request) else "edit.html"
        return await render(request, template, context)
    form = await verified_form(request)
    try:
        updated = await service.edit_reply(
            reply.id,
            user,
            form.get("body"),
            window,
            bus=request.app.state.events,
            images=request.app.state.images,
        )
    except (ValidationError, service.EditWindowClosed) as error:
        # The form again with the reader's text and the reason beside it: nothing is lost.
        errors = error.errors if isinstance(error, ValidationError) else {"body": error.message}
        context.update(form={"body": form.get("body") or ""}, errors=errors)
        template = "_edit_form.html" if is_htmx(request) else "edit.html"
        status = 422 if isinstance(error, ValidationError) else 403
        return await render(request, template, context, status_code=status)
    if not is_htmx(request):
        return RedirectResponse(reply_permalink(article.slug, updated.id), status_code=303)
    node = await single_node(updated, user, tree_shape(request.app.state.settings))
    return await render(
        request,
        "_reply_main.html",
        {"article": article, "node": node},
        headers={"X-Focus": f"reply-{updated.id}-main"},
    )


async def delete_reply(request: Request) -> Response:
    """Delete one's own reply: a confirmation page without JS, the stub (or removal) with htmx."""
    article, reply = await reply_from_path(request)
    user = await require_user(request)
    if request.method == "GET":
        return await render(request, "delete.html", {"article": article, "reply": reply})
    await verified_form(request)
    outcome = await service.delete_reply(reply.id, user, bus=request.app.state.events)
    if not is_htmx(request):
        target = reply_path(article.slug, reply.id) if outcome.stub else article_path(article.slug)
        return RedirectResponse(target, status_code=303)
    if outcome.stub is not None:
        node = await single_node(outcome.stub, user, tree_shape(request.app.state.settings))
        return await render(request, "_reply_main.html", {"article": article, "node": node})
    return Response(
        status_code=200,
        headers={"HX-Retarget": f"#reply-{outcome.removed_id}", "HX-Reswap": "delete"},
    )


async def vote(request: Request) -> Response:
    """Up-vote a reply or take the vote back: htmx gets the new vote widget; without JS the
    widget GETs a page that confirms with a POST, answered with a 303 to the reply."""
    article, reply = await reply_from_path(request)
    user = await require_user(request)
    if request.method == "GET":
        undo = request.query_params.get("vote") == "undo"
        return await render(
            request, "vote.html", {"article": article, "reply": reply, "undo": undo}
        )
    form = await verified_form(request)
    undo = form.get("vote") == "undo"
    change = votes.unvote if undo else votes.vote
    try:
        state = await change(reply.id, user, bus=request.app.state.events)
    except (votes.VotesClosed, Forbidden) as refused:
        status = 409 if isinstance(refused, votes.VotesClosed) else 403
        context = {"article": article, "reply": reply, "undo": undo, "error": refused.message}
        if is_htmx(request):
            return Response(refused.message, status_code=status, media_type="text/plain")
        return await render(request, "vote.html", context, status_code=status)
    if not is_htmx(request):
        return RedirectResponse(reply_permalink(article.slug, reply.id), status_code=303)
    reply.score = state.score
    node = ReplyNode(reply, shows_body(reply, user), voted=state.voted)
    return await render(request, "_vote_widget.html", {"article": article, "node": node})


async def revisions(request: Request) -> Response:
    """The texts a reply had, newest first: a page, or with htmx a list in the reply's slot."""
    article, reply = await reply_from_path(request)
    _, versions = await reply_versions(reply.id, await current_user(request))
    context = {"article": article, "reply": reply, "versions": list(reversed(versions))}
    template = "_revisions.html" if is_htmx(request) else "revisions.html"
    return await render(request, template, context)
