"""JSON API for members' profiles."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forum.accounts.identity import current_user
from forum.contracts import api, respond
from forum.profiles import service
from forum.schemas import MemberProfile, ProfileQuery, ProfileReply
from forum.urls import article_path, avatar_url, reply_permalink
from models import ReplyStatus


@api(
    "A member: role, suspension, avatar and their replies, newest first",
    query=ProfileQuery,
    response=MemberProfile,
    defaults={"limit": "page_size"},
)
async def user(request: Request, query: ProfileQuery) -> Response:
    """GET /api/users/{username}?before=&limit=: the member and a page of their replies."""
    base = request.app.state.settings.base_url
    member = await service.member_named(request.path_params["username"])
    shown = await service.profile(
        member,
        await current_user(request),
        before=query.before,
        limit=query.limit or request.app.state.settings.page_size,
    )
    replies = [
        ProfileReply(
            id=item.reply.id,
            article=item.reply.article.slug,
            article_title=item.reply.article.title,
            article_url=base + article_path(item.reply.article.slug),
            url=base + reply_permalink(item.reply.article.slug, item.reply.id),
            body_html=item.reply.html,
            excerpt=item.excerpt,
            created_at=item.reply.created_at,
            edited_at=item.reply.edited_at,
            hidden=item.reply.status == ReplyStatus.HIDDEN,
            score=item.reply.score,
        )
        for item in shown.replies.items
    ]
    return respond(
        MemberProfile(
            username=member.username,
            role=member.role,
            suspended=shown.suspended,
            suspended_until=member.suspended_until,
            suspension_reason=member.suspension_reason if shown.show_reason else None,
            joined=member.created_at,
            reply_count=shown.reply_count,
            avatar_url=base + str(avatar_url(member.username)),
            replies=replies,
            next_cursor=shown.replies.next_cursor,
        )
    )
