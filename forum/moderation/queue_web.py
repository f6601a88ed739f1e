"""The moderators' queue in the page: a page of it with its total, and one action on several
flagged replies at once (the bulk form); where single actions send a page without JavaScript."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts.identity import current_user
from forum.boundary import parse_whole
from forum.http import is_htmx, render, verified_form
from forum.moderation import bulk, flagged
from forum.validation import ValidationError
from models import HideReason, User

REASONS = [reason.value for reason in HideReason]
#: The highest page number a link may name.
PAGE_MAX = 1_000_000


def queue_page(value: object) -> int:
    """The queue's page number from a query or a form field (1 when absent or not a page)."""
    return parse_whole(value, 1, PAGE_MAX) or 1


def back_to_queue(form: FormData | dict[str, Any]) -> str | None:
    """Where an action taken from the queue returns without JavaScript: the same page of it
    (None when the form was not sent from the queue)."""
    if not form.get("queue_page"):
        return None
    return f"/mod/flags?page={queue_page(form.get('queue_page'))}#flag-total"


async def _queue_context(moderator: User | None, page: int) -> dict[str, Any]:
    size = flagged.QUEUE_PAGE
    total = await flagged.flagged_reply_count(moderator)
    items = await flagged.flag_queue(moderator, size, (page - 1) * size)
    authors = await flagged.author_totals({item.reply.author_id for item in items})
    return {
        "items": items,
        "total": total,
        "page": page,
        "pages": max(-(-total // size), 1),
        "author_totals": authors,
        "reasons": REASONS,
    }


async def flag_queue(request: Request) -> Response:
    """The moderators' queue of flagged replies, most-flagged first, a page at a time."""
    page = parse_whole(request.query_params.get("page") or "1", 1, PAGE_MAX)
    if page is None:
        raise ValidationError({"page": "page must be a page number."})
    context = await _queue_context(await current_user(request), page)
    return await render(request, "mod_flags.html", {**context, "form": {}, "errors": {}})


def _said(done: bulk.BulkOutcome) -> str:
    count = len(done.handled)
    replies = "1 reply" if count == 1 else f"{count} replies"
    if done.action is bulk.BulkAction.SUSPEND:
        text = f"{done.suspended} is suspended; {replies} left the queue."
    elif done.action is bulk.BulkAction.HIDE:
        text = f"Hid {replies}."
    else:
        text = f"Dismissed the flags of {replies}."
    if done.skipped:
        text += f" {len(done.skipped)} had been handled meanwhile."
    return text


async def bulk_action(request: Request) -> Response:
    """Hide or dismiss the ticked replies (or all of one author's) at once; with htmx the queue
    changes in place, without it the same page of the queue comes back."""
    moderator = await current_user(request)
    form = await verified_form(request)
    page = queue_page(form.get("queue_page"))
    author = str(form.get("author") or "").strip()
    try:
        done = await bulk.bulk_act(
            moderator,
            form.get("action"),
            # "Select all by" ticks that author's replies on this page too: the author wins.
            reply_ids=None if author else form.getlist("reply_ids"),
            author=author or None,
            reason=form.get("reason"),
            note=form.get("note"),
            bus=request.app.state.events,
        )
    except ValidationError as error:
        context = {**await _queue_context(moderator, page), "form": dict(form)}
        # Without JavaScript the page comes back: with the same replies ticked.
        context.update(errors=error.errors, ticked=form.getlist("reply_ids"))
        if not is_htmx(request):
            return await render(request, "mod_flags.html", context, status_code=422)
        headers = {"HX-Retarget": "#bulk-form", "HX-Reswap": "outerHTML"}
        return await render(request, "_bulk_form.html", context, status_code=422, headers=headers)
    if not is_htmx(request):
        return RedirectResponse(f"/mod/flags?page={page}#flag-total", status_code=303)
    context = {
        "status": _said(done),
        "total": await flagged.flagged_reply_count(moderator),
        # Those handled meanwhile by someone else leave this page too.
        "gone": [*done.handled, *done.skipped],
    }
    return await render(request, "_bulk_answer.html", context)
