"""Thread page speed: time and bytes of the article page with 1,000 and 10,000 replies.

Run `.venv/bin/python bench/page.py` (or `make bench`). For each size it migrates a temporary
SQLite database, starts the forum under uvicorn on a free loopback port (the seed article loads at
start) and seeds a realistic thread through the ORM (bench/seeding.py). Then one keep-alive HTTP
client, signed out, times the article page (as first served, and oldest first), a permalink to a
deep reply and an htmx "load more" fragment on both, and a bare Starlette app serving a page of
the same size (bench/baseline_app.py) as the baseline.

`--against REV` also serves another revision of the project (unpacked by bench/revision.py,
seeded by its own seeding) at both sizes, times its article page in the same interleaved rounds,
and checks this checkout's article page p50 against it (issue 15: at most 1.2× the page before
it, 7ef91b4: `make bench-page-against`).

Exit status: 0 when the targets are met (article page p50 ≤ 10 ms, T(10k)/T(1k) ≤ 1.2, and with
--against, p50 ≤ 1.2× the revision's), 1 when one is missed, 2 when the bench itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from revision import RevisionError, seed_at, unpack
from seeding import Seeded, SeedError, seed_thread
from servers import Server, ServerError, free_port, start_forum, start_server, stop_server

SIZES = (1_000, 10_000)
#: Timed requests per page, taken in interleaved rounds so that a change in the machine's load
#: falls on every page alike; the whole measurement stops after TIME_CAP_S anyway.
REQUESTS = 300
ROUNDS = 10
TIME_CAP_S = 180.0
WARMUP = 30
TARGET_P50_MS = 10.0
TARGET_SCALING = 1.2
#: This checkout's article page against the revision given with --against.
TARGET_AGAINST = 1.2


class PageError(Exception):
    """A page that did not answer as the bench expects."""


@dataclass
class Row:
    """One page to time: where it is, its timings in seconds and its size in bytes."""

    label: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)
    size: int = 0

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        ordered = sorted(self.samples)
        return ordered[max(math.ceil(share * len(ordered)) - 1, 0)] * 1000

    @property
    def p50(self) -> float:
        """Median time, in milliseconds."""
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        """99th percentile time, in milliseconds."""
        return self.percentile(0.99)

    @property
    def mean(self) -> float:
        """Mean time, in milliseconds."""
        return sum(self.samples) / len(self.samples) * 1000


def fetch(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET url; any status but 200 stops the bench (it would time an error page)."""
    response = client.get(url, headers=headers)
    if response.status_code != 200:
        raise PageError(f"GET {url} answered {response.status_code}:\n{response.text[:2000]}")
    return response


def measure(client: httpx.Client, rows: list[Row]) -> None:
    """Warm every page up, then time REQUESTS sequential GETs of each, ROUNDS rounds in turn."""
    for row in rows:
        for _ in range(WARMUP):
            fetch(client, row.url, row.headers)
    deadline = time.perf_counter() + TIME_CAP_S
    per_round = math.ceil(REQUESTS / ROUNDS)
    for _ in range(ROUNDS):
        for row in rows:
            for _ in range(min(per_round, REQUESTS - len(row.samples))):
                if time.perf_counter() > deadline:
                    return
                began = time.perf_counter()
                response = fetch(client, row.url, row.headers)
                row.samples.append(time.perf_counter() - began)
                row.size = len(response.content)


def load_more_cursor(page: str) -> str:
    """The cursor of the "load more replies" link on an article page."""
    found = re.search(r'class="load-more"[^>]*?cursor=(\d+)', page)
    if found is None:
        raise PageError("the article page has no 'load more replies' link")
    return found.group(1)


def print_table(baseline: Row, rows: list[Row]) -> None:
    """One line per page: requests, p50, p99, mean, bytes and p50 over the baseline's."""
    print(
        f"{'page':<42}{'reqs':>6}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'bytes':>9}{'×base':>7}"
    )
    for row in [baseline, *rows]:
        print(
            f"{row.label:<42}{len(row.samples):>6}{row.p50:>9.2f}{row.p99:>9.2f}"
            f"{row.mean:>9.2f}{row.size:>9}{row.p50 / baseline.p50:>7.1f}"
        )


def verdict(name: str, value: float, limit: float, unit: str = "") -> bool:
    """Print one target check; True when it passes."""
    passed = value <= limit
    print(f"  {name:<40}{value:>7.2f}{unit} ≤ {limit}{unit}  {'PASS' if passed else 'FAIL'}")
    return passed


def forum_rows(server: Server, seeded: Seeded, first_page: str, size: str) -> dict[str, Row]:
    """The pages timed on one forum, by kind."""
    article = f"{server.url}/a/{seeded.slug}"
    deep = seeded.deep_reply
    return {
        "page": Row(f"forum@{size} article page", article),
        "oldest": Row(f"forum@{size} article page, oldest first", f"{article}?order=oldest"),
        "permalink": Row(f"forum@{size} permalink, depth {deep.depth}", f"{article}/r/{deep.id}"),
        "more": Row(
            f"forum@{size} load more (htmx fragment)",
            f"{article}?cursor={load_more_cursor(first_page)}",
            {"HX-Request": "true"},
        ),
    }


def seed_forums(workdir: Path, servers: list[Server]) -> dict[int, tuple[Server, Seeded]]:
    """One running forum per size, each on its own seeded database."""
    forums: dict[int, tuple[Server, Seeded]] = {}
    for count in SIZES:
        database_url = f"sqlite://{workdir / f'forum-{count}.sqlite3'}"
        server = start_forum(f"forum-{count}", database_url, workdir)
        servers.append(server)
        began = time.perf_counter()
        seeded = asyncio.run(seed_thread(database_url, count))
        print(
            f"seeded {count:,} replies ({seeded.top_level:,} top-level, deepest at depth "
            f"{seeded.max_depth}) in {time.perf_counter() - began:.1f} s"
        )
        forums[count] = (server, seeded)
    return forums


def revision_rows(revision: str, workdir: Path, servers: list[Server]) -> dict[int, Row]:
    """The article page of another revision, served and seeded at each size."""
    tree = unpack(revision)
    rows: dict[int, Row] = {}
    for count in SIZES:
        database_url = f"sqlite://{workdir / f'rev-{count}.sqlite3'}"
        server = start_forum(f"rev-{count}", database_url, workdir, project_root=tree)
        servers.append(server)
        slug = seed_at(tree, database_url, count)
        rows[count] = Row(f"{revision}@{count // 1000}k article page", f"{server.url}/a/{slug}")
    return rows


def report(
    baseline: Row, rows: dict[str, dict[int, Row]], against: dict[int, Row] | None = None
) -> bool:
    """Print the table, the scaling and the targets; True when every target is met."""
    small, large = SIZES
    print(
        f"\n{REQUESTS} sequential GETs per page after {WARMUP} warm-up, in {ROUNDS} interleaved "
        "rounds; signed out, one keep-alive client, loopback\n"
    )
    before = [against[count] for count in SIZES] if against else []
    print_table(baseline, [rows[kind][count] for count in SIZES for kind in rows] + before)

    def scaling(kind: str) -> float:
        return rows[kind][large].p50 / rows[kind][small].p50

    print("\nT(10k)/T(1k) of p50: " + ", ".join(f"{kind} {scaling(kind):.2f}" for kind in rows))
    print("\ntargets (article page as first served: newest first, first chunk)")
    results = [
        verdict(f"p50 at {count:,} replies", rows["page"][count].p50, TARGET_P50_MS, " ms")
        for count in SIZES
    ]
    results.append(verdict("T(10k)/T(1k) of p50", scaling("page"), TARGET_SCALING))
    for count, row in (against or {}).items():
        ratio = rows["page"][count].p50 / row.p50
        results.append(
            verdict(f"p50 at {count:,} over {row.label.split('@')[0]}'s", ratio, TARGET_AGAINST)
        )
    return all(results)


def run(workdir: Path, servers: list[Server], against: str | None) -> bool:
    """Seed, serve and measure everything; True when every target is met."""
    forums = seed_forums(workdir, servers)
    before = revision_rows(against, workdir, servers) if against else {}
    with httpx.Client(timeout=10) as client:
        first_pages = {
            count: fetch(client, f"{server.url}/a/{seeded.slug}").text
            for count, (server, seeded) in forums.items()
        }
        # The baseline serves as many bytes as the forum's page with the fewer replies.
        baseline_server = start_server(
            "baseline",
            ["--app-dir", "bench", "baseline_app:app"],
            "/page",
            {"BASELINE_BYTES": str(len(first_pages[SIZES[0]].encode()))},
            workdir,
            free_port(),
        )
        servers.append(baseline_server)
        baseline = Row("baseline: bare Starlette page", baseline_server.url + "/page")
        rows: dict[str, dict[int, Row]] = {}
        for count, (server, seeded) in forums.items():
            size = f"{count // 1000}k"
            for kind, row in forum_rows(server, seeded, first_pages[count], size).items():
                rows.setdefault(kind, {})[count] = row
        timed = [
            baseline,
            *(row for by_size in rows.values() for row in by_size.values()),
            *before.values(),
        ]
        measure(client, timed)
    if not all(row.samples for row in timed):
        raise PageError(f"some page was never timed within {TIME_CAP_S:.0f} s")
    return report(baseline, rows, before)


def main() -> int:
    """Run the bench; exit status 0 when the targets are met, 1 when not, 2 on an error."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REV", help="also time this revision's article page")
    args = parser.parse_args()
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="forum-bench-") as workdir:
        try:
            return 0 if run(Path(workdir), servers, args.against) else 1
        except (ServerError, SeedError, PageError, RevisionError, httpx.HTTPError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        finally:
            for server in servers:
                stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
