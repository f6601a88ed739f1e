"""Jinja2 environment: templates only render what handlers give them."""

from __future__ import annotations

from starlette.templating import Jinja2Templates

from forum.accounts.standing import is_deleted_name
from forum.reply_view import main_block_renderer
from forum.security_headers import csp_nonce
from forum.settings import PROJECT_ROOT
from forum.static_assets import ASSETS
from forum.times import absolute_time, time_ago
from forum.urls import article_url, avatar_url, reply_url, user_url
from forum.visibility import is_moderator, shows_body


def build_templates(edit_window_seconds: int = 15 * 60) -> Jinja2Templates:
    """The app's template renderer with the forum's filters; edit_window_seconds says how long
    replies show their Edit link (settings.edit_window_seconds)."""
    templates = Jinja2Templates(
        directory=PROJECT_ROOT / "templates", context_processors=[csp_nonce]
    )
    templates.env.filters["ago"] = time_ago
    templates.env.filters["absolute_time"] = absolute_time
    templates.env.globals["is_moderator"] = is_moderator
    templates.env.globals["article_url"] = article_url
    templates.env.globals["reply_url"] = reply_url
    templates.env.globals["user_url"] = user_url
    templates.env.globals["avatar_url"] = avatar_url
    templates.env.globals["is_deleted_name"] = is_deleted_name
    templates.env.globals["shows_body"] = shows_body
    templates.env.globals["static_url"] = ASSETS.url
    main_block, view = main_block_renderer(templates.env, edit_window_seconds)
    templates.env.globals["reply_main_block"] = main_block
    templates.env.globals["reply_view"] = view
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    return templates
