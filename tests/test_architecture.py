"""The import rules of docs/architecture.md, checked on the source: features react to events
instead of importing each other, and no feature reaches into another's handlers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

FORUM = Path(__file__).resolve().parent.parent / "forum"
#: Lowest first: a feature's services may import those of the features before it.
FEATURE_ORDER = {
    "accounts": 0,
    "articles": 0,
    "replies": 1,
    "moderation": 2,
    "notifications": 2,
    "profiles": 3,
}
HANDLERS = {"web", "api"}
COMPOSITION = {"forum.app", "forum.wiring", "forum.cli", "forum.__main__"}
#: Handler-layer modules shared by every feature's handlers: they may use any service.
HANDLER_SUPPORT = {
    "forum.http",
    "forum.access",
    "forum.openapi",
    "forum.schemas",
    "forum.contracts",
    "forum.error_pages",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(FORUM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The forum modules a file imports (from-imports of packages count their names too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("forum"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("forum"))
    return found


MODULES = {module_name(path): path for path in FORUM.rglob("*.py")}


def feature_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in FEATURE_ORDER else None


def is_handler(module: str) -> bool:
    """A feature's page or API handlers: web.py, api.py, or a module named like settings_web."""
    last = module.split(".")[-1]
    return last.endswith(tuple(HANDLERS)) and feature_of(module) is not None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module: str) -> None:
    if module in COMPOSITION:
        return
    imported = {name for name in imports_of(MODULES[module]) if name in MODULES}
    own = feature_of(module)
    for target in imported:
        target_feature = feature_of(target)
        # Nobody but the composition reaches into another feature's handlers.
        if is_handler(target):
            assert target_feature == own, f"{module} imports {target}"
        assert target not in COMPOSITION, f"{module} imports {target}"
        in_services = own is not None and not is_handler(module)
        if in_services and target_feature is not None and target_feature != own:
            assert FEATURE_ORDER[target_feature] < FEATURE_ORDER[own], (
                f"{module} ({own}) imports {target}: {target_feature} is not below {own}"
            )
        core = own is None and not module.startswith(("forum.live", "forum.pages"))
        core = core and not any(
            module == shared or module.startswith(shared + ".") for shared in HANDLER_SUPPORT
        )
        if core:
            assert target_feature is None or target == "forum.accounts.standing", (
                f"core module {module} imports the feature module {target}"
            )
        if in_services or core:
            assert not target.startswith("forum.live"), f"{module} imports {target}"


TEMPLATES = sorted((FORUM.parent / "templates").glob("*.html"))
#: A site URL written by hand in a template: "/a/" ~ slug, /a/{{ slug }}, /u/{{ name }}...
HAND_JOINED = re.compile(r"""["']/(a|u)/["']|/(a|u)/\{\{""")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_templates_take_urls_from_one_helper_and_keep_escaping_on(template: Path) -> None:
    text = template.read_text()
    assert "autoescape false" not in text, "trusted HTML is Markup made in forum.urls"
    assert not HAND_JOINED.search(text), "site URLs come from article_url/reply_url/user_url"
