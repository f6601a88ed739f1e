"""Another revision of the project, unpacked beside this checkout, so that a bench can serve it
and time it in the same run as this one (`bench/page.py --against REV`).

The tree is `git archive` of the revision in var/bench/rev-<commit>, made once and kept; it runs
on this checkout's virtual environment and node_modules, and seeds its own database with its own
bench/seeding.py, so its schema and its seeding always match its code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from servers import PROJECT_ROOT

TREES = PROJECT_ROOT / "var" / "bench"
SEED_TIMEOUT_S = 300.0

# Run in the revision's tree: its bench/seeding.py, its models.
_SEED = """
import asyncio, json, sys
sys.path.insert(0, "bench")
from seeding import seed_thread
seeded = asyncio.run(seed_thread(sys.argv[1], int(sys.argv[2])))
print(json.dumps({"slug": seeded.slug}))
"""


class RevisionError(Exception):
    """The revision could not be unpacked or seeded."""


def unpack(revision: str) -> Path:
    """The tree of revision (any name git knows), unpacked once under var/bench."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode:
        raise RevisionError(f"git knows no revision {revision!r}: {found.stderr.strip()}")
    commit = found.stdout.strip()
    tree = TREES / f"rev-{commit[:12]}"
    if not (tree / "server.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            f"git archive {commit} | tar -x -C {tree}",
            shell=True,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if archive.returncode:
            raise RevisionError(f"could not unpack {commit}: {archive.stderr.strip()}")
    modules = tree / "node_modules"
    if not modules.exists():
        modules.symlink_to(PROJECT_ROOT / "node_modules")
    return tree


def seed_at(tree: Path, database_url: str, count: int) -> str:
    """Seed count replies with the revision's own seeding; the article's slug."""
    seeded = subprocess.run(
        [sys.executable, "-c", _SEED, database_url, str(count)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        timeout=SEED_TIMEOUT_S,
    )
    if seeded.returncode:
        raise RevisionError(f"seeding at {tree.name} failed:\n{seeded.stderr[-3000:]}")
    return str(json.loads(seeded.stdout.strip().splitlines()[-1])["slug"])
