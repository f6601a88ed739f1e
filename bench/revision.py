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
#: The longest a git command or a seeding may take.
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


def _run(command: list[str], cwd: Path, failure: str) -> str:
    """What command printed; RevisionError with failure and its errors when it fails."""
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, timeout=SEED_TIMEOUT_S
    )
    if done.returncode:
        raise RevisionError(f"{failure}:\n{done.stderr[-3000:].strip()}")
    return done.stdout


def unpack(revision: str) -> Path:
    """The tree of revision (any name git knows), unpacked once under var/bench."""
    verify = ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"]
    commit = _run(verify, PROJECT_ROOT, f"git knows no revision {revision!r}").strip()
    tree = TREES / f"rev-{commit[:12]}"
    if not (tree / "server.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = f"git archive {commit} | tar -x -C {tree}"
        _run(["sh", "-c", archive], PROJECT_ROOT, f"could not unpack {commit}")
    modules = tree / "node_modules"
    if not modules.exists():
        modules.symlink_to(PROJECT_ROOT / "node_modules")
    return tree


def seed_at(tree: Path, database_url: str, count: int) -> str:
    """Seed count replies with the revision's own seeding; the article's slug."""
    command = [sys.executable, "-c", _SEED, database_url, str(count)]
    printed = _run(command, tree, f"seeding at {tree.name} failed")
    return str(json.loads(printed.strip().splitlines()[-1])["slug"])
