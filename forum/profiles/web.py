"""Members' pages: the profile with their replies, and their avatar."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forum.accounts.identity import current_user
from forum.http import is_htmx, render
from forum.profiles import avatars, service

#: The avatar depends on the name alone; a week is long enough to spare the requests and short
#: enough for a new drawing to spread.
AVATAR_CACHE = "public, max-age=604800"


async def profile(request: Request) -> Response:
    """A member's page: their replies newest first, a page at a time (`before`); an htmx "load
    more" gets only the next page. Moderators can suspend from here, admins change roles."""
    member = await service.member_named(request.path_params["username"])
    before = service.parse_before(request.query_params.get("before"))
    shown = await service.profile(
        member,
        await current_user(request),
        before=before,
        limit=request.app.state.settings.page_size,
    )
    context = {"profile": shown, "member": member, "form": {}, "errors": {}}
    if is_htmx(request) and before is not None:
        items = shown.replies.items
        # Focus moves to the first reply loaded, not to the page (the link is gone).
        focus = {"X-Focus": f"profile-reply-{items[0].reply.id}"} if items else None
        return await render(request, "_profile_replies.html", context, headers=focus)
    return await render(request, "user.html", context)


async def avatar(request: Request) -> Response:
    """A member's avatar: their initials on a disc of their own colour, as SVG (304 when the
    browser's copy, named by its ETag, is still the one)."""
    member = await service.member_named(request.path_params["username"])
    svg = avatars.avatar_svg(member.username)
    headers = {"Cache-Control": AVATAR_CACHE, "ETag": avatars.etag(svg)}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(svg, media_type="image/svg+xml", headers=headers)
