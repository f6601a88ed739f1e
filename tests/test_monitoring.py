"""What operators watch: /healthz answers for the database and the broker, /metrics counts
requests by route template and the live sockets, only for whoever may read it, and the access
log is one JSON object per request."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conftest import (
    SLUG,
    LiveServer,
    Member,
    scratch_database,
    start_server,
    stop_server,
)
from tests.test_live import TIMEOUT, live_url, next_event, posted

TOKEN = "scrape-me-" + "x" * 24


class TcpProxy:
    """A local port forwarded to upstream until close(), after which it refuses connections
    and has cut the open ones: a broker that went away, for one server only."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                return
            self.connections += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


@pytest.fixture(scope="module")
def broker_proxy(redis_url: str) -> Iterator[TcpProxy]:
    """A way to the test Redis that the test can cut."""
    parsed = httpx.URL(redis_url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 6379)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def operated(
    broker_proxy: TcpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server on Redis (through the proxy) with METRICS_TOKEN set and the access log on."""
    folder = tmp_path_factory.mktemp("operated")
    with scratch_database(folder) as database:
        process, live = start_server(
            database,
            folder,
            BROKER_URL=f"redis://127.0.0.1:{broker_proxy.port}/0",
            # Its own prefix: other test runs may share this Redis at the same time.
            BROKER_PREFIX=f"monitoring-{uuid.uuid4().hex[:10]}",
            METRICS_TOKEN=TOKEN,
            ACCESS_LOG="on",
        )
        try:
            yield live
        finally:
            stop_server(process)


def samples(text: str, name: str) -> list[Sample]:
    """Every sample of a metric family (by its name without _total) in a Prometheus text."""
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return list(family.samples)
    raise AssertionError(f"no metric {name}")


def value(text: str, sample_name: str, **labels: str) -> float:
    """The value of the one sample with this name and (at least) these labels."""
    family = sample_name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count")
    found = [
        sample.value
        for sample in samples(text, family)
        if sample.name == sample_name and labels.items() <= sample.labels.items()
    ]
    assert len(found) == 1, (sample_name, labels, found)
    return found[0]


# /healthz ----------------------------------------------------------------------------------------


async def test_healthz_says_the_database_and_the_memory_broker_answer(
    anon: httpx.AsyncClient,
) -> None:
    response = await anon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert response.headers["cache-control"] == "no-store"


# /metrics ----------------------------------------------------------------------------------------


async def test_a_request_is_counted_under_its_route_template(
    server: LiveServer, anon: httpx.AsyncClient
) -> None:
    before = (await anon.get("/metrics")).text
    assert (await anon.get(f"/a/{SLUG}")).status_code == 200
    assert (await anon.get("/a/no-such-article")).status_code == 404
    response = await anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text

    def count(text: str, status: str) -> float:
        labels = {"method": "GET", "route": "/a/{slug}", "status": status}
        try:
            return value(text, "forum_http_requests_total", **labels)
        except AssertionError:
            return 0.0

    assert count(text, "200") == count(before, "200") + 1
    assert count(text, "404") == count(before, "404") + 1
    buckets = value(
        text, "forum_http_request_duration_seconds_count", method="GET", route="/a/{slug}"
    )
    assert buckets >= 2
    routes = {sample.labels["route"] for sample in samples(text, "forum_http_requests")}
    assert not any(SLUG in route or "no-such-article" in route for route in routes), routes
    assert "/metrics" in routes


async def test_live_sockets_frames_and_the_outbox_are_in_the_metrics(
    server: LiveServer, anon: httpx.AsyncClient, member: Member
) -> None:
    sent_before = value((await anon.get("/metrics")).text, "forum_live_frames_sent_total")
    async with websockets.connect(live_url(server), open_timeout=TIMEOUT) as page:
        await posted(member, "Counted on its way to the open page.")
        assert (await next_event(page))["type"] == "reply.posted"
        text = (await anon.get("/metrics")).text
        assert value(text, "forum_live_sockets_open") >= 1
        assert value(text, "forum_live_frames_sent_total") >= sent_before + 1
    assert value(text, "forum_live_sockets_closed_too_slow_total") >= 0
    assert value(text, "forum_mail_outbox", state="pending") >= 0
    assert value(text, "forum_mail_outbox", state="failed") >= 0


async def test_metrics_are_not_for_clients_that_come_through_a_proxy(
    anon: httpx.AsyncClient,
) -> None:
    response = await anon.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403
    assert "detail" in response.json()["errors"]


def test_with_metrics_token_only_its_bearer_reads_the_metrics(operated: LiveServer) -> None:
    assert httpx.get(operated.url + "/metrics").status_code == 401
    wrong = {"Authorization": "Bearer " + TOKEN[:-1]}
    assert httpx.get(operated.url + "/metrics", headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "203.0.113.9"}
    response = httpx.get(operated.url + "/metrics", headers=right)
    assert response.status_code == 200
    assert samples(response.text, "forum_http_requests")


# The access log ----------------------------------------------------------------------------------


def test_each_request_is_one_json_line_in_the_access_log(operated: LiveServer) -> None:
    httpx.get(operated.url + f"/a/{SLUG}?order=oldest")
    lines = [
        json.loads(line) for line in Path(operated.log).read_text().splitlines() if line[:1] == "{"
    ]
    page = [line for line in lines if line["route"] == "/a/{slug}"]
    assert page, lines
    assert set(page[-1]) == {"method", "route", "status", "duration_ms", "bytes"}
    assert page[-1]["method"] == "GET"
    assert page[-1]["status"] == 200
    assert page[-1]["bytes"] > 0
    assert page[-1]["duration_ms"] >= 0


# Last: it cuts the broker of the module's server ------------------------------------------------


def test_healthz_is_503_naming_the_broker_once_redis_is_unreachable(
    operated: LiveServer, broker_proxy: TcpProxy
) -> None:
    assert httpx.get(operated.url + "/healthz").json() == {"database": "ok", "broker": "ok"}
    broker_proxy.close()
    response = httpx.get(operated.url + "/healthz", timeout=10)
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "unreachable"}
    assert int(response.headers["retry-after"]) > 0
    # The rest of the site still answers from the database.
    assert httpx.get(operated.url + f"/api/articles/{SLUG}").status_code == 200
