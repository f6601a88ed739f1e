"""Servers for the benches: uvicorn subprocesses on free loopback ports, each with its own log."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0
#: The benches' servers compress no WebSocket frames unless asked to.
NO_DEFLATE = ["--ws-per-message-deflate", "false"]
MIGRATE_TIMEOUT_S = 120.0


class ServerError(Exception):
    """A server that could not be started; the message includes its log."""


@dataclass
class Server:
    """A uvicorn subprocess on a loopback port, and the log it writes."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws_url(self) -> str:
        """The base of its WebSocket URLs."""
        return "ws" + self.url.removeprefix("http")

    def cpu_seconds(self) -> float:
        """CPU time the server's threads have run so far (scheduler statistics, in ns)."""
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def rss_kib(self) -> int:
        """Resident memory of the server process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise ServerError(f"no VmRSS for {self.name}")


def listening_socket(backlog: int = 4096) -> socket.socket:
    """A listening socket on a free loopback port, for servers to inherit (see start_forum)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_log(message: str, log: Path) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return f"{message}\n--- {log.name} ---\n{text}"


def uvicorn_command(
    app: list[str], port: int, options: list[str] | None = None, fd: int | None = None
) -> list[str]:
    """`uvicorn <app>` on a loopback port, with extra command-line options; or on the listening
    socket of file descriptor fd (as systemd's socket activation passes it)."""
    address = ["--fd", str(fd)] if fd is not None else ["--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "uvicorn", *app, *address, "--no-access-log", *(options or [])]


def start_server(
    name: str, app: list[str], ready_path: str, env: dict[str, str], log_dir: Path, port: int
) -> Server:
    """Start `uvicorn <app>` on port (cwd: the project) and wait until ready_path answers 200."""
    command = uvicorn_command(app, port, NO_DEFLATE)
    return start_process(name, command, port, ready_path, env, log_dir)


def start_process(
    name: str,
    command: list[str],
    port: int,
    ready_path: str,
    env: dict[str, str],
    log_dir: Path,
    on_spawn: Callable[[Server], None] | None = None,
    held: socket.socket | None = None,
    project_root: Path = PROJECT_ROOT,
) -> Server:
    """Start a server command that listens on port (cwd: project_root, this checkout unless
    another revision's tree is given) and wait until ready_path answers 200; on_spawn is called
    with the server as soon as its process runs. held: a listening socket the process inherits
    (its command names its descriptor)."""
    url = f"http://127.0.0.1:{port}"
    log = log_dir / f"{name}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=project_root,
            env={**os.environ, **env, "PORT": str(port)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(held.fileno(),) if held is not None else (),
        )
    server = Server(name, url, process, log)
    if on_spawn is not None:
        on_spawn(server)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(_with_log(f"{name} exited at start", log))
        try:
            if httpx.get(url + ready_path, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(server)
    raise ServerError(_with_log(f"{name} did not answer within {START_TIMEOUT_S:.0f} s", log))


def stop_server(server: Server) -> None:
    """Terminate a server started here (kill it if it does not stop)."""
    if server.process.poll() is not None:
        return
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def start_forum(
    name: str,
    database_url: str,
    log_dir: Path,
    *,
    env: dict[str, str] | None = None,
    options: list[str] | None = None,
    port: int | None = None,
    on_spawn: Callable[[Server], None] | None = None,
    held: socket.socket | None = None,
    project_root: Path = PROJECT_ROOT,
) -> Server:
    """Migrate database_url (`python -m forum migrate`), then serve the forum on it, with extra
    settings (env) and uvicorn options, on port (a free one when None), from project_root (this
    checkout, or another revision's tree); on_spawn is called with the server as soon as its
    process runs (after the migrations). held: a listening socket to serve on instead (its
    port), kept open by the caller across restarts as systemd's socket activation does
    (docs/deploy.md)."""
    if held is not None:
        port = int(held.getsockname()[1])
    port = port or free_port()
    forum_env = {
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        **(env or {}),
    }
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "forum", "migrate"],
            cwd=project_root,
            env={**os.environ, **forum_env},
            capture_output=True,
            text=True,
            check=False,
            timeout=MIGRATE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        raise ServerError(f"migrations took over {MIGRATE_TIMEOUT_S:.0f} s") from error
    if migrate.returncode:
        raise ServerError(f"migrations failed:\n{migrate.stdout}\n{migrate.stderr}")
    command = uvicorn_command(
        ["server:app"],
        port,
        options or ["--ws-per-message-deflate", "false"],
        held.fileno() if held is not None else None,
    )
    return start_process(
        name, command, port, "/api/articles", forum_env, log_dir, on_spawn, held, project_root
    )
