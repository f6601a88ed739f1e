"""The Mute and Unmute forms of a member's page (and the settings page's "unmute"): plain
forms that redirect back without JS, swapped in place with htmx."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forum.accounts import muting
from forum.http import is_htmx, render, require_user, verified_form
from forum.urls import user_url

#: Where a form may send the reader back to, other than the member's page.
BACK_TO_SETTINGS = "/settings?done=unmuted"


async def mute_form(request: Request) -> Response:
    """Mute or unmute a member (the path ends in /mute or /unmute)."""
    user = await require_user(request)
    form = await verified_form(request)
    muting_now = request.url.path.endswith("/mute")
    change = muting.mute if muting_now else muting.unmute
    member = await change(user, request.path_params["username"], bus=request.app.state.events)
    if is_htmx(request):
        context = {"member": member, "muted": muting_now}
        return await render(request, "_mute_button.html", context)
    if form.get("back") == "settings":
        return RedirectResponse(BACK_TO_SETTINGS, status_code=303)
    return RedirectResponse(str(user_url(member.username)), status_code=303)
