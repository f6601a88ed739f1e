"""Every page of the site is valid HTML by the Nu HTML Checker (npm `vnu-jar`, a dev dependency,
run with the machine's Java), as a visitor, a member and a moderator see it. htmx's own
attributes (`hx-*`) are not HTML's and are the only messages let through."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from forum.settings import PROJECT_ROOT
from tests.conftest import LiveServer
from tests.site_pages import describe, html_pages, is_document, seed_site

#: The checker: the project's node_modules (`npm ci`), or VNU_JAR elsewhere.
VNU = Path(os.environ.get("VNU_JAR") or PROJECT_ROOT / "node_modules/vnu-jar/build/dist/vnu.jar")
#: A message about an htmx attribute (named in the checker's curly quotes).
HTMX_ATTRIBUTE = re.compile(r"“hx-[\w:.-]*”")
#: Where a fragment (what a route answers htmx) is checked: the body of a page, inside the
#: element its first tag needs for a parent (a list item goes into a list).
FRAGMENT_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fragment</title></head>'
    "<body>{}</body></html>"
)
PARENTS = {
    "li": ("<ul>", "</ul>"),
    "tr": ("<table><tbody>", "</tbody></table>"),
    "td": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "th": ("<table><tbody><tr>", "</tr></tbody></table>"),
    "dt": ("<dl>", "</dl>"),
    "dd": ("<dl>", "</dl>"),
    "option": ("<select>", "</select>"),
}


def as_page(fragment: str) -> str:
    """A fragment as a whole page, for the checker."""
    first = re.match(r"\s*<([a-z][\w-]*)", fragment)
    before, after = PARENTS.get(first[1] if first else "", ("", ""))
    return FRAGMENT_PAGE.format(before + fragment + after)


def checker_errors(files: list[Path]) -> list[dict[str, object]]:
    """The checker's errors over all the files, in one run of Java."""
    java = shutil.which("java")
    if java is None or not VNU.exists():
        pytest.fail(f"the HTML checker needs java and {VNU}: install Java, run `npm ci`")
    done = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    # The report is on stderr; the exit status is 1 whenever there are errors.
    messages = json.loads(done.stderr)["messages"]
    return [m for m in messages if m.get("type") == "error" or m.get("subType") == "fatal"]


def test_every_page_is_valid_html(
    server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    site = seed_site(server, tmp_path_factory.mktemp("articles"))
    pages = html_pages(site, htmx=True)
    folder = tmp_path_factory.mktemp("pages")
    files: dict[str, str] = {}
    for index, ((viewer, path), html) in enumerate(sorted(pages.items())):
        file = folder / f"{index:03d}.html"
        file.write_text(html if is_document(html) else as_page(html))
        files[file.name] = f"{viewer} {path}"
    # Some of every kind: the sweep is not quietly checking nothing.
    assert {viewer for viewer, _ in pages} == {"visitor", "member", "moderator"}
    assert sum(is_document(html) for html in pages.values()) >= 30, describe(pages)

    errors = [
        f"{files[str(m.get('url')).rsplit('/', 1)[-1]]} line {m.get('lastLine')}: {m['message']}"
        f"\n    {' '.join(str(m.get('extract', '')).split())[:160]}"
        for m in checker_errors([folder / name for name in files])
        if not HTMX_ATTRIBUTE.search(str(m["message"]))
    ]
    assert errors == [], "\n".join(errors)
