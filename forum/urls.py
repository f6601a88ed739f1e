"""The site's public URL patterns, in one place for pages, redirects and the API."""

from __future__ import annotations

from markupsafe import Markup, escape


def article_path(slug: str) -> str:
    """Where an article and its discussion live."""
    return f"/a/{slug}"


def reply_path(slug: str, reply_id: int) -> str:
    """A reply's permalink: the thread opened at that reply."""
    return f"/a/{slug}/r/{reply_id}"


def reply_permalink(slug: str, reply_id: int) -> str:
    """The permalink with the fragment that scrolls to and highlights the reply."""
    return f"{reply_path(slug, reply_id)}#reply-{reply_id}"


def live_path(slug: str) -> str:
    """The WebSocket that carries an article's thread live."""
    return f"/a/{slug}/live"


# For templates: every site URL in a page comes from these, never from strings joined by hand.
# Each is Markup built from ids and names the forum checked (an article's slug is lower-case
# letters, digits and dashes; a username letters, digits, _ and -), escaped once here anyway,
# so the reply partial needs no escaping of its dozens of links (a third of a page's rendering).


def article_url(slug: str, action: str = "") -> Markup:
    """An article's page, or one of its actions (article_url(slug, "feed.atom"))."""
    return Markup(f"/a/{escape(slug)}" + (f"/{escape(action)}" if action else ""))


def reply_url(slug: str, reply_id: int, action: str = "") -> Markup:
    """A reply's permalink, or one of its actions (reply_url(slug, 7, "edit"))."""
    return Markup(f"/a/{escape(slug)}/r/{int(reply_id)}" + (f"/{escape(action)}" if action else ""))


def user_url(username: str, action: str = "") -> Markup:
    """A member's page, or one of its actions."""
    return Markup(f"/u/{escape(username)}" + (f"/{escape(action)}" if action else ""))


def absolute_links(html: str, base_url: str) -> str:
    """A reply's sanitised HTML with the forum's own links (a mention's `/u/name`, a proxied
    image) made absolute, for mail and feeds, which are read away from the site. nh3 writes
    every attribute double-quoted, so a site path starts exactly `href="/` or `src="/`."""
    base = base_url.rstrip("/")
    return html.replace('href="/', f'href="{base}/').replace('src="/', f'src="{base}/')


def avatar_url(username: str) -> Markup:
    """A member's avatar picture (SVG, drawn from the name: forum.profiles.avatars)."""
    return Markup(f"/u/{escape(username)}/avatar.svg")
