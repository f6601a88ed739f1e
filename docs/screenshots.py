"""Screenshots of the forum at desktop and phone widths, light and dark, for review and the README.

Run against a live server you started yourself, e.g.

    DATABASE_URL=sqlite:///tmp/shots.sqlite3 PORT=8123 .venv/bin/python -m forum serve
    .venv/bin/python docs/screenshots.py http://127.0.0.1:8123

It seeds a few members and a nested thread through the JSON API (once: a discussion that already
has replies is left alone), then writes docs/screenshot.png (desktop, light, the discussion) and
the full set into /tmp/forum-shots/. Uses Debian's Chromium, never a downloaded browser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "screenshot password"
VIEWER = "maria_k"

#: (key, author, parent key or None, body); posted in this order, so later ones are newer.
THREAD = [
    (
        "range",
        "tomasz",
        None,
        "The range limit was always the strange part. If the depots are 150 km behind the line, "
        "defending only the line means fighting with one hand tied.",
    ),
    (
        "escalation",
        "aiko",
        "range",
        "The worry was never the depots themselves, it was what comes *after*. "
        "Each step has been called a red line and each time the line moved.",
    ),
    (
        "moved",
        "tomasz",
        "escalation",
        "Which suggests the lines were negotiating positions, not thresholds.",
    ),
    (
        "evidence",
        "maria_k",
        "moved",
        "Or that the deterrence worked until it didn't. We only see the cases where it held.",
    ),
    (
        "timing",
        "devon",
        "range",
        "Timing matters too: two months before a handover, any policy is partly a message to "
        "the next administration.",
    ),
    (
        "korea",
        "aiko",
        None,
        "The North Korean troops are the part I can't stop thinking about. "
        "That is a second country's soldiers in a European war.",
    ),
    (
        "source",
        "devon",
        "korea",
        "Do we have numbers beyond the intelligence estimates quoted in the article?",
    ),
    (
        "welcome",
        "maria_k",
        None,
        "Thanks for the write-up. The **Why now?** section answers the question I came with.",
    ),
]


def seed(base_url: str) -> str:
    """Create the members and the thread (unless the discussion has replies); return the slug."""
    with httpx.Client(base_url=base_url, timeout=10) as anon:
        slug = str(anon.get("/api/articles").raise_for_status().json()["articles"][0]["slug"])
        if anon.get(f"/api/articles/{slug}/replies").json()["replies"]:
            return slug
    members: dict[str, tuple[httpx.Client, str]] = {}
    try:
        for name in sorted({author for _, author, _, _ in THREAD}):
            client = httpx.Client(base_url=base_url, timeout=10)
            account = {"username": name, "password": PASSWORD}
            created = client.post("/api/accounts", json=account)
            if created.status_code not in (201, 409):
                created.raise_for_status()
            session = client.post("/api/session", json=account).raise_for_status()
            members[name] = (client, session.json()["csrf_token"])
        ids: dict[str, int] = {}
        for key, author, parent, body in THREAD:
            client, csrf = members[author]
            payload: dict[str, object] = {"body": body}
            if parent:
                payload["parent_id"] = ids[parent]
            posted = client.post(
                f"/api/articles/{slug}/replies", json=payload, headers={"X-CSRF-Token": csrf}
            )
            ids[key] = int(posted.raise_for_status().json()["id"])
    finally:
        for client, _ in members.values():
            client.close()
    return slug


def sign_in(page: Page, username: str) -> None:
    """Sign in through the login form, as a reader would."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.split("?")[0].endswith("/login"))


def shoot(
    browser: Browser, base_url: str, slug: str, out: Path, *, phone: bool, dark: bool
) -> Path:
    """Full-page shots of the article and a permalink, one viewport and colour scheme."""
    name = f"{'phone' if phone else 'desktop'}-{'dark' if dark else 'light'}"
    size = ViewportSize(width=390, height=844) if phone else ViewportSize(width=1280, height=900)
    context = browser.new_context(
        base_url=base_url,
        viewport=size,
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        color_scheme="dark" if dark else "light",
    )
    page = context.new_page()
    sign_in(page, VIEWER)
    page.goto(f"/a/{slug}")
    page.screenshot(path=out / f"{name}-top.png")
    page.screenshot(path=out / f"{name}-article.png", full_page=True)
    discussion = page.locator(".discussion")
    discussion.scroll_into_view_if_needed()
    page.screenshot(path=out / f"{name}-discussion.png")

    # The states a reviewer should see: a reply form opened in place, an error, keyboard focus.
    first = page.locator("#replies > .reply").first
    first.locator(":scope > .reply-main .reply-actions").get_by_role("link", name="Reply").click()
    form = first.locator(".reply-slot form")
    form.get_by_role("button", name="Post reply").click()
    form.locator(".field-error").wait_for()
    page.keyboard.press("Tab")
    first.scroll_into_view_if_needed()
    page.screenshot(path=out / f"{name}-states.png")

    deepest = page.locator("#replies .reply[data-depth]").last.get_attribute("id") or ""
    page.goto(f"/a/{slug}/r/{deepest.removeprefix('reply-')}")
    page.screenshot(path=out / f"{name}-permalink.png")
    context.close()
    return out / f"{name}-discussion.png"


def readme_shot(browser: Browser, base_url: str, slug: str, path: Path) -> None:
    """The README picture: desktop, light, from the end of the article into the discussion."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    sign_in(page, VIEWER)
    page.goto(f"/a/{slug}?order=oldest")  # the deepest thread first
    page.locator("#presence:not(:empty)").wait_for()  # the live bar has connected: no blank row
    page.evaluate("document.querySelector('.discussion').scrollIntoView({block: 'start'})")
    page.evaluate("window.scrollBy(0, -40)")
    page.screenshot(path=path)
    context.close()


def main() -> None:
    """Seed the server, then write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8123")
    parser.add_argument("--out", type=Path, default=Path("/tmp/forum-shots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    slug = seed(args.base_url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for phone in (False, True):
            for dark in (False, True):
                print(shoot(browser, args.base_url, slug, args.out, phone=phone, dark=dark))
        readme_shot(browser, args.base_url, slug, DOCS / "screenshot.png")
        browser.close()
    print(DOCS / "screenshot.png")


if __name__ == "__main__":
    main()
