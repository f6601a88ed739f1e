"""What the reader benches share: the reader processes (bench/live_readers.py) driven through
pipes, posters at a steady rate, and one measured burst (post→receipt latency, server CPU per
delivery from /proc, sockets dropped).

Used by bench/live.py, bench/readers.py, bench/restart.py and bench/cluster.py.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import live_readers
from servers import Server, ServerError

CONNECT_TIMEOUT_S = 180.0
COMMAND_TIMEOUT_S = 60.0
DELIVERY_TIMEOUT_S = 30.0

#: One post: given the moment it is sent (monotonic ns), make the server send a reply frame to
#: every reader; returns its reply_id.
Post = Callable[[int], int]


def fail(message: str, log: Path | None = None) -> SystemExit:
    """Print message (and the end of a server's log); the exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    if log is not None and log.exists():
        print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-5000:]}", file=sys.stderr)
    return SystemExit(2)


def report_targets(checks: dict[str, bool]) -> bool:
    """Print each target with PASS or FAIL; whether all of them were met."""
    for name, passed in checks.items():
        print(f"target: {name}  {'PASS' if passed else 'FAIL'}")
    return all(checks.values())


def run_with_readers(processes: int, prefix: str, run: Callable[[Readers, Path], bool]) -> int:
    """Run a bench with its reader processes and a scratch folder (named from prefix), both
    gone afterwards; the exit code: 0 when run met its targets, 1 when not (a server that does
    not answer exits with 2)."""
    readers = Readers(processes)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            passed = run(readers, Path(tmp))
        except ServerError as error:
            raise fail(str(error)) from error
        finally:
            readers.stop()
    print(load_average())
    return 0 if passed else 1


def raise_open_files(needed: int) -> int:
    """Raise this process's open-files limit (children inherit it) to at least needed when
    allowed (root may raise the hard limit); the limit now."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(hard, needed), hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            break
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def load_average() -> str:
    """The machine's load averages, for the printout."""
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


class Readers:
    """Reader processes (bench/live_readers.py), driven through pipes."""

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        for number in range(processes):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=live_readers.run, args=(theirs,), name=f"readers-{number}", daemon=True
            )
            process.start()
            theirs.close()
            self._pipes.append(mine)
            self._processes.append(process)

    @property
    def processes(self) -> int:
        """How many reader processes there are."""
        return len(self._pipes)

    @property
    def pids(self) -> list[int]:
        """The reader processes' ids."""
        return [process.pid for process in self._processes if process.pid is not None]

    def ask(self, command: str, *args: Any, timeout: float = COMMAND_TIMEOUT_S) -> list[Any]:
        """Send a command to every process; their answers."""
        for pipe in self._pipes:
            pipe.send((command, *args))
        return [self._answer(pipe, command, time.monotonic() + timeout) for pipe in self._pipes]

    @staticmethod
    def _answer(pipe: Connection, command: str, deadline: float) -> Any:
        if not pipe.poll(max(deadline - time.monotonic(), 0)):
            raise fail(f"reader processes did not answer {command!r} in time")
        return pipe.recv()

    def stats(self) -> dict[str, Any]:
        """Counts summed over every process (frame_bytes and *_ns: the largest; *_first_ns:
        the smallest but 0)."""
        total: dict[str, Any] = {}
        for answer in self.ask("stats"):
            for key, value in answer.items():
                if isinstance(value, dict):
                    total.setdefault(key, Counter()).update(value)
                elif key.endswith("_first_ns"):
                    total[key] = min(filter(None, (total.get(key, 0), value)), default=0)
                elif key == "frame_bytes" or key.endswith("_ns"):
                    total[key] = max(total.get(key, 0), value)
                else:
                    total[key] = total.get(key, 0) + value
        return total

    def connect(
        self,
        urls: str | Sequence[str],
        count: int,
        headers: dict[str, str] | None = None,
        *,
        sources: Sequence[str] = (),
        resume: bool = False,
    ) -> int:
        """Open count more sockets, spread over the processes (and over urls, when several);
        process i connects from sources[i % len(sources)] when given. With resume, the readers
        reconnect and resume when lost (see bench/live_readers.py). How many are open in all."""
        urls = [urls] if isinstance(urls, str) else list(urls)
        slots = len(urls) * len(self._pipes)
        # One url at a time (a process obeys one command at a time), every process at once.
        for url_number, url in enumerate(urls):
            for number, pipe in enumerate(self._pipes):
                slot = url_number * len(self._pipes) + number
                share = count // slots + (slot < count % slots)
                source = sources[number % len(sources)] if sources else None
                pipe.send(("connect", url, share, headers or {}, source, resume))
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            for pipe in self._pipes:
                self._answer(pipe, "connect", deadline)
        return int(self.stats()["open"])

    def collect(self) -> dict[int, list[int]]:
        """Receipt times by reply_id, from every process (and forget them there)."""
        receipts: dict[int, list[int]] = {}
        for answer in self.ask("collect"):
            for reply_id, times in answer.items():
                receipts.setdefault(reply_id, []).extend(times)
        return receipts

    def scores(self) -> list[tuple[int, int | None, list[int]]]:
        """Score frames of every open socket (see live_readers.Tally.scores), and forget them."""
        return [reader for answer in self.ask("scores") for reader in answer]

    def close(self) -> None:
        """Close every socket."""
        self.ask("close")

    def stop(self) -> None:
        """End the processes (kill any that do not end)."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("exit",))
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()


def source_addresses(processes: int, run: int) -> list[str]:
    """Loopback source addresses, one per reader process (each address has its own ephemeral
    ports, 32768–60999), and a new set for each run, so that the ports the last run left in
    TIME_WAIT are not needed again."""
    return [f"127.{run % 250 + 1}.{n // 250}.{n % 250 + 1}" for n in range(processes)]


def wait_for_deliveries(readers: Readers, expected: int, timeout: float) -> dict[str, Any]:
    """Poll the readers until expected reply frames arrived (or timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = readers.stats()
        if stats["received"] >= expected or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


def post_steadily(posts: Sequence[Post], rate: float, seconds: float) -> dict[int, int]:
    """Each poster (its own thread) posts rate posts a second for seconds, staggered; the send
    time (monotonic ns) of each reply_id."""
    sent: dict[int, int] = {}
    count = max(int(rate * seconds), 1)
    began = time.monotonic() + 0.1
    errors: list[BaseException] = []

    def poster(number: int, post: Post) -> None:
        offset = number / (rate * len(posts))
        try:
            for step in range(count):
                time.sleep(max(began + offset + step / rate - time.monotonic(), 0))
                sent_ns = time.monotonic_ns()
                sent[post(sent_ns)] = sent_ns
        except BaseException as error:  # reported below, in the bench's thread
            errors.append(error)

    threads = [threading.Thread(target=poster, args=item) for item in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sent


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Other work on the machine during a burst beyond this many cores is pointed out: on a shared
#: 2-core machine it, not the server, may be why a burst is slow.
DISTURBED_CORES = 0.2


def process_times(pid: int) -> tuple[float, float]:
    """CPU seconds a process (all its threads) has run so far: (user, kernel)."""
    try:
        # Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0, 0.0
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def machine_times() -> dict[str, float]:
    """CPU seconds of the whole machine so far (all cores), by kind, from /proc/stat."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    values = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    return {name: int(value) / CLOCK_TICKS for name, value in zip(names, values, strict=True)}


class CpuSplit:
    """Where the machine's CPU went during a burst: each group of processes (user and kernel
    time; for loopback TCP the kernel time of the writing side includes most of the receiving
    side's work), the machine's softirq time, and what else ran (other load on the machine)."""

    def __init__(self, groups: dict[str, Sequence[int]]) -> None:
        self.groups = groups
        self.began = time.monotonic()
        self.before = self._sample()
        self.machine = machine_times()
        #: CPU seconds by group, (user, kernel), once stopped; and the wall time.
        self.seconds: dict[str, tuple[float, float]] = {}
        self.wall = 0.0
        self.busy = self.idle = 0.0

    def _sample(self) -> dict[str, tuple[float, float]]:
        sample = {}
        for name, pids in self.groups.items():
            times = [process_times(pid) for pid in pids]
            sample[name] = (sum(t[0] for t in times), sum(t[1] for t in times))
        return sample

    def stop(self) -> CpuSplit:
        """Take the second sample."""
        self.wall = time.monotonic() - self.began
        after, machine = self._sample(), machine_times()
        for name, (user, kernel) in after.items():
            user_before, kernel_before = self.before[name]
            self.seconds[name] = (user - user_before, kernel - kernel_before)
        spent = {kind: machine[kind] - self.machine[kind] for kind in machine}
        self.idle = spent["idle"] + spent["iowait"]
        self.busy = sum(spent.values()) - self.idle
        named = sum(user + kernel for user, kernel in self.seconds.values())
        self.seconds["softirq"] = (0.0, spent["softirq"])
        self.seconds["other"] = (max(self.busy - named - spent["softirq"], 0.0), 0.0)
        return self

    @property
    def other_cores(self) -> float:
        """Cores used by processes outside the bench (other work on the machine) meanwhile."""
        return self.seconds.get("other", (0.0, 0.0))[0] / max(self.wall, 1e-9)

    def line(self, deliveries: int) -> str:
        """µs of CPU per delivery by group (user+kernel), and the machine's busy/idle cores."""
        per = 1e6 / max(deliveries, 1)
        parts = []
        for name, (user, kernel) in self.seconds.items():
            if name in ("softirq", "other"):
                parts.append(f"{name} {(user + kernel) * per:.1f}")
            else:
                parts.append(f"{name} {user * per:.1f}+{kernel * per:.1f}")
        wall = max(self.wall, 1e-9)
        return (
            "    µs per delivery (user+kernel): " + ", ".join(parts) + f"; over {self.wall:.1f} s "
            f"the machine was busy {self.busy / wall:.2f} cores, idle {self.idle / wall:.2f}"
            + (
                f"; DISTURBED: other work took {self.other_cores:.2f} cores"
                if self.other_cores > DISTURBED_CORES
                else ""
            )
        )


def wait_for_quiet(timeout: float, busy_cores: float = DISTURBED_CORES) -> tuple[float, float]:
    """Wait (at most timeout seconds) until the machine was busy under busy_cores for a whole
    second, so a burst is not measured while other work shares the cores; how long it waited,
    and the busy cores of the last second."""
    began = time.monotonic()
    while True:
        before = machine_times()
        time.sleep(1.0)
        after = machine_times()
        spent = {kind: after[kind] - before[kind] for kind in after}
        busy = sum(spent.values()) - spent["idle"] - spent["iowait"]
        waited = time.monotonic() - began
        if busy < busy_cores or waited >= timeout:
            return waited, busy


def cpu_seconds(servers: Sequence[Server]) -> float:
    """CPU time of the servers so far, together."""
    return sum(server.cpu_seconds() for server in servers)


@dataclass
class Burst:
    """What one measured burst of posts found."""

    readers: int
    expected: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_us: float = math.nan
    dropped: int = 0
    close_codes: dict[int, int] = field(default_factory=dict)
    rss_kib: int = 0
    #: Where the machine's CPU went while posting and delivering.
    split: CpuSplit | None = None

    @property
    def lost(self) -> int:
        """Deliveries that never arrived."""
        return self.expected - len(self.latencies_ms)

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        return percentile(self.latencies_ms, share)

    def line(self, name: str) -> str:
        """One line of the printout."""
        return (
            f"{name:<24}{self.readers:>8,}  p50 {self.percentile(0.5):7.1f}  p95 "
            f"{self.percentile(0.95):7.1f}  p99 {self.percentile(0.99):7.1f} ms  lost "
            f"{self.lost:,}  dropped {self.dropped:,}  CPU {self.cpu_us:6.1f} µs/delivery  RSS "
            f"{self.rss_kib / 1024:,.0f} MiB"
            + (f"  closed {self.close_codes}" if self.close_codes else "")
        )


def measure_burst(
    servers: Sequence[Server],
    readers: Readers,
    posts: Sequence[Post],
    *,
    rate: float,
    seconds: float,
    idle_s: float = 2.0,
) -> Burst:
    """Posters at rate posts/s each for seconds, to every connected reader: latencies, the
    servers' CPU per delivery (less their idle rate), sockets dropped, RSS (the largest)."""
    readers.collect()
    before = readers.stats()
    burst = Burst(int(before["open"]))
    cpu_before, idle_began = cpu_seconds(servers), time.monotonic()
    time.sleep(idle_s)
    idle_rate = (cpu_seconds(servers) - cpu_before) / (time.monotonic() - idle_began)
    cpu_before, began = cpu_seconds(servers), time.monotonic()
    split = CpuSplit(
        {
            "server": [server.process.pid for server in servers],
            "readers": readers.pids,
            "bench": [os.getpid()],
        }
    )
    sent = post_steadily(posts, rate, seconds)
    burst.expected = len(sent) * burst.readers
    # Bounded: a delivery later than DELIVERY_TIMEOUT_S after the last post counts as lost.
    stats = wait_for_deliveries(readers, before["received"] + burst.expected, DELIVERY_TIMEOUT_S)
    burst.split = split.stop()
    cpu = cpu_seconds(servers) - cpu_before - idle_rate * (time.monotonic() - began)
    burst.rss_kib = max(server.rss_kib() for server in servers)
    receipts = readers.collect()
    burst.latencies_ms = [
        (received - sent[reply_id]) / 1e6
        for reply_id, times in receipts.items()
        if reply_id in sent
        for received in times
    ]
    burst.cpu_us = cpu / max(len(burst.latencies_ms), 1) * 1e6
    burst.dropped = int(stats["disconnects"] - before["disconnects"])
    burst.close_codes = dict(stats["close_codes"] - before["close_codes"])
    return burst
