"""What operators watch: `/healthz`, `/metrics` (Prometheus text) and one JSON access-log line
per request.

The app factory wires the probes (forum.app: the database, the hub's broker, the live sockets,
the mail outbox), so this module needs no feature: it asks what it is given. Requests are
labelled by their route's template (`/a/{slug}`), never by the raw path, so the number of time
series stays that of the route table however many articles and replies there are.

Who may read `/metrics`: with `METRICS_TOKEN` set, whoever sends it as a bearer token (a
Prometheus outside the machine); without it, only a client on the machine itself that came
through no proxy (no `Forwarded`/`X-Forwarded-For`), since behind a local nginx every request
would otherwise look like it came from 127.0.0.1. The figures are not secret, but they tell an
outsider how busy the forum is and where it is slow, which is an operator's business.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("forum.access")

#: How long /healthz waits for the database or the broker before calling it down.
PROBE_TIMEOUT_SECONDS = 2.0
#: What a 503 from /healthz asks a load balancer to wait before asking again.
HEALTH_RETRY_AFTER = "10"
#: The route label of a request that matched no route (one label, not one per path).
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LOOPBACK = frozenset({"127.0.0.1", "::1"})
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


class LiveCounters:
    """Plain counters the live sockets bump as they go (read at scrape time): an integer add
    is all a fan-out to thousands of sockets can afford per frame."""

    __slots__ = ("closed_too_slow", "frames_sent")

    def __init__(self) -> None:
        #: Frames written to thread sockets, directly or through ASGI.
        self.frames_sent = 0
        #: Thread sockets closed with 1013 because their reader fell behind.
        self.closed_too_slow = 0


@dataclass
class Probes:
    """What the app lets monitoring ask, wired by the app factory once the lifespan starts."""

    #: Raises when the database does not answer a trivial query.
    database: Callable[[], Awaitable[None]]
    #: Raises when the hub's broker is unreachable (memory: never).
    broker: Callable[[], Awaitable[None]]
    #: Thread sockets open in this process.
    open_sockets: Callable[[], int]
    #: Outbox rows by state: {"pending": n, "failed": n}.
    outbox: Callable[[], Awaitable[dict[str, int]]]
    live: LiveCounters = field(default_factory=LiveCounters)


@dataclass
class _Snapshot:
    """The figures read at scrape time, handed to the collector for one exposition."""

    open_sockets: int = 0
    frames_sent: int = 0
    closed_too_slow: int = 0
    outbox: dict[str, int] = field(default_factory=dict)


class _ScrapeCollector(Collector):
    """Turns the scrape's snapshot into metric families."""

    def __init__(self) -> None:
        self.snapshot = _Snapshot()

    def collect(self) -> Iterator[Metric]:
        now = self.snapshot
        yield GaugeMetricFamily(
            "forum_live_sockets_open", "Thread sockets open in this process.", now.open_sockets
        )
        yield CounterMetricFamily(
            "forum_live_frames_sent", "Frames written to thread sockets.", now.frames_sent
        )
        yield CounterMetricFamily(
            "forum_live_sockets_closed_too_slow",
            "Thread sockets closed with 1013 because their reader fell behind.",
            now.closed_too_slow,
        )
        outbox = GaugeMetricFamily(
            "forum_mail_outbox", "Mail outbox rows by state (all processes).", labels=["state"]
        )
        for state in ("pending", "failed"):
            outbox.add_metric([state], now.outbox.get(state, 0))
        yield outbox


class Metrics:
    """This app's metrics, in a registry of its own (several apps may live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "forum_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "forum_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self._scrape = _ScrapeCollector()
        self.registry.register(self._scrape)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    async def exposition(self, probes: Probes) -> bytes:
        """Every metric in Prometheus' text format, with the scrape-time figures read now."""
        snapshot = _Snapshot(
            open_sockets=probes.open_sockets(),
            frames_sent=probes.live.frames_sent,
            closed_too_slow=probes.live.closed_too_slow,
            outbox=await probes.outbox(),
        )
        self._scrape.snapshot = snapshot
        return generate_latest(self.registry)


def route_templates(routes: list[BaseRoute]) -> dict[Any, str]:
    """Each route's endpoint (what the router leaves in the scope) -> its path template."""
    templates: dict[Any, str] = {}
    for route in routes:
        if isinstance(route, Route | WebSocketRoute):
            templates[route.endpoint] = route.path
        elif isinstance(route, Mount):
            templates[route.app] = route.path
    return templates


class RequestMetricsMiddleware:
    """Times and counts every HTTP request by route template, and logs it as one JSON line.
    WebSockets pass untouched (the live writer needs the server's own `send`)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[Any, str] | None = None

    def _route(self, scope: Scope) -> str:
        if self._templates is None:
            self._templates = route_templates(list(scope["app"].routes))
        return self._templates.get(scope.get("endpoint"), UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = self._route(scope)
            self.metrics.observe(method, route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                line = {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "bytes": sent,
                }
                access_log.info(json.dumps(line))

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False):
                    # Before the last bytes leave: once a client has its answer, the request is
                    # already counted and logged (a scrape or a log reader right after sees it).
                    record()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if not recorded:
                record()


def configure_access_log(enabled: bool) -> None:
    """ACCESS_LOG: one JSON object per line on standard output, or nothing at all."""
    access_log.propagate = False
    access_log.setLevel(logging.INFO if enabled else logging.WARNING)
    if enabled and not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)


async def _check(probe: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await probe()
    except Exception as failure:
        logging.getLogger("forum").warning("health check failed: %r", failure)
        return "unreachable"
    return "ok"


async def healthz(request: Request) -> Response:
    """200 when the database and the broker answer; 503 naming the one that did not."""
    probes: Probes = request.app.state.probes
    report = {"database": await _check(probes.database), "broker": await _check(probes.broker)}
    if all(state == "ok" for state in report.values()):
        return JSONResponse(report, headers={"Cache-Control": "no-store"})
    return JSONResponse(
        report,
        status_code=503,
        headers={"Retry-After": HEALTH_RETRY_AFTER, "Cache-Control": "no-store"},
    )


def may_read_metrics(request: Request, token: str) -> bool:
    """The bearer of METRICS_TOKEN when it is set; else a client on this machine, not proxied."""
    if token:
        offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(offered.encode(), token.encode())
    client = request.client.host if request.client else ""
    return client in LOOPBACK and not any(name in request.headers for name in PROXY_HEADERS)


async def metrics(request: Request) -> Response:
    """This process's metrics in Prometheus' text format, for whoever may read them."""
    token = request.app.state.settings.metrics_token
    if not may_read_metrics(request, token):
        headers = {"WWW-Authenticate": "Bearer"} if token else {}
        status = 401 if token else 403
        message = "Send METRICS_TOKEN as a bearer token." if token else "Only from this machine."
        return JSONResponse({"errors": {"detail": message}}, status_code=status, headers=headers)
    body = await request.app.state.metrics.exposition(request.app.state.probes)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
