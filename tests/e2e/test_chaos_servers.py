"""Chaos on the servers around the hub, under load, on PostgreSQL + RabbitMQ.

None of these touches the machine's own PostgreSQL or RabbitMQ (other suites use them):

* **RabbitMQ stopped and started.** The hub is given one node of the three-node test cluster
  (:mod:`rabbit_cluster`, ``lt1`` on 5681, held with :func:`rabbit_cluster.exclusive` so the
  broker fail-over test never stops nodes under it); that node's app is stopped for 10 s
  mid-load and started again. Pushes keep being accepted (the outbox holds the work); the
  backlog must drain once the hub reconnects.
* **PostgreSQL restarted.** The primary of a :class:`pg_ha.ReplicatedPair` (the hub's only
  database) is crashed (``pg_ctl stop -m immediate``), left down 5 s, and started again. Pushes
  in between are refused 503 and retried by the senders.
* **A slow peer that answers HTML.** Forwarded deliveries: packages addressed to a ministry
  (out of the province's scope) go to the national axis, here a second real ``lienthong run``
  behind a loopback HTTP gateway. The gateway first passes requests on but answers each 1.5 s
  late, then answers an HTML 200 page (every other request passed on to the axis first, so
  the answer — not the delivery — is what is lost), then passes requests on properly. Every
  package must reach the ministry's system once; the failures must be visible in
  ``lienthong deliveries --state retry_wait`` and ``/metrics`` meanwhile.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from chaos_support import Load, chaos_site, check
from e2e_support import AGENCY_A, HubSite, _site_env
from pg_ha import ReplicatedPair
from rabbit_cluster import NODES, RabbitCluster, exclusive

from hub.resources import data_path

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

RATE = 12.0
PACKAGES = 240
RABBIT_DOWN_S = 10.0
PG_DOWN_S = 5.0
FORWARDS = 180  # 30 s of load at RATE / 2: the gateway's slow and HTML phases fall inside
MAX_ATTEMPTS = 30  # forwards: enough for the gateway's bad minute at 0.5–2 s apart

#: The national axis' side: a ministry's system, and this hub's account on the axis.
MINISTRY = "000.00.00.G22"
SYSTEM_M, SECRET_M = "qlvb.vpcp", "chaos-secret-of-the-ministry"
HUB_ON_AXIS, HUB_SECRET = "truc.nghean", "chaos-secret-of-the-hub-on-the-axis"
HTML = "<!DOCTYPE html><html><body><h1>Hệ thống đang bảo trì</h1></body></html>".encode()


def test_rabbitmq_node_stopped_and_started_under_load(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with exclusive():
        cluster = RabbitCluster.ensure()
        node, port, _ = NODES[0]
        url = f"amqp://guest:guest@127.0.0.1:{port}/"
        with chaos_site(request, "postgresql", tmp_path, broker_url=url) as site:
            try:
                api, worker = site.start("serve"), site.start("worker")
                load = Load(api.url, api.url, packages=PACKAGES, rate=RATE).start()
                load.wait_answered(40)
                cluster.stop_node(node)
                time.sleep(RABBIT_DOWN_S)
                assert load.sending(), "the load ended during the outage"
                cluster.start_node(node)
                load.recovered()
                figures = load.finish("postgresql", "RabbitMQ node stopped 10 s", timeout=120)
                check(figures, PACKAGES)
                assert worker.popen.poll() is None, worker.log()
            finally:
                # Every node back before the site's teardown deletes its queues through lt1,
                # and before the cluster is let go.
                for name, _, _ in NODES:
                    cluster.start_node(name)


def test_postgresql_restarted_under_load(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    pair = ReplicatedPair.start()
    try:
        with chaos_site(request, "postgresql", tmp_path, database_url=pair.url()) as site:
            api, worker = site.start("serve"), site.start("worker")
            load = Load(api.url, api.url, packages=PACKAGES, rate=RATE).start()
            load.wait_answered(40)
            pair.restart_primary(PG_DOWN_S)
            assert load.sending(), "the load ended during the outage"
            load.recovered()
            figures = load.finish("postgresql", "PostgreSQL down 5 s, restarted", timeout=120)
            check(figures, PACKAGES)
            assert figures.retried > 0, "no push met the database down"
            assert worker.popen.poll() is None, worker.log()
    finally:
        pair.stop()


class Gateway(http.server.ThreadingHTTPServer):
    """A loopback HTTP gateway in front of ``upstream``; ``mode`` says how it answers:
    ``slow`` (passes on, answers 1.5 s late), ``html`` (an HTML 200 page; every other request
    passed on first), ``pass``."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _GatewayHandler)
        self.upstream = upstream
        self.mode = "pass"
        self.counts: dict[str, int] = {"slow": 0, "html": 0, "pass": 0}
        self._turn = itertools.count()
        self.http = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def relay(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, bytes]:
        mode = self.mode
        self.counts[mode] += 1
        if mode == "html" and next(self._turn) % 2 == 0:
            return 200, "text/html; charset=utf-8", HTML
        skip = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}
        reply = self.http.request(
            method,
            self.upstream + path,
            headers=[(k, v) for k, v in headers if k.lower() not in skip],
            content=body,
        )
        if mode == "slow":
            time.sleep(1.5)
        if mode == "html":  # the axis took it; its answer is replaced by a portal's page
            return 200, "text/html; charset=utf-8", HTML
        return reply.status_code, reply.headers.get("content-type", ""), reply.content


class _GatewayHandler(http.server.BaseHTTPRequestHandler):
    server: Gateway

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, ctype, payload = self.server.relay(
            self.command, self.path, list(self.headers.items()), body
        )
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def gateway(upstream: str) -> Iterator[Gateway]:
    gw = Gateway(upstream)
    thread = threading.Thread(target=gw.serve_forever, daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        gw.shutdown()
        gw.server_close()
        gw.http.close()


def _fast_retry_settings(path: Path) -> Path:
    """The shipped settings with retries a second apart (the default backoff, 2 s doubling to
    10 min, would outlast the test) and room for the attempts of the outage."""
    settings = yaml.safe_load(data_path("config", "settings.yaml").read_text("utf-8"))
    settings["retry"] = {"max_attempts": MAX_ATTEMPTS, "base_delay_s": 0.5, "max_delay_s": 2.0}
    # The breaker's pauses shortened the same way (the shipped 60 s / 15 min would outlast the
    # test): a retry within the second of its first try can be refused by the axis as a replay,
    # which the breaker takes for a refused credential.
    settings["breaker"] = {"failures": 5, "cooldown_s": 2.0, "auth_cooldown_s": 5.0}
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), "utf-8")
    return path


def _retry_wait_in_metrics(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("lienthong_deliveries{") and 'state="retry_wait"' in line
    )


def test_national_axis_slow_then_html_under_load(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    axis_dir = tmp_path / "axis"
    axis = HubSite("sqlite", axis_dir, _site_env(axis_dir, None, "embedded"))
    axis.env.update({"LIENTHONG_ORGAN_ID": "000.00.00.G01", "LIENTHONG_SCOPE": "G22"})
    axis.cli("db", "upgrade")
    axis.add_system(HUB_ON_AXIS, [AGENCY_A], HUB_SECRET)
    axis.add_system(SYSTEM_M, [MINISTRY], SECRET_M)
    try:
        axis_hub = axis.start("run")
        with gateway(axis_hub.url) as gw:
            env = {
                "LIENTHONG_SETTINGS": str(_fast_retry_settings(tmp_path / "settings.yaml")),
                "LIENTHONG_NATIONAL_ENDPOINT": gw.url + "/",
                "LIENTHONG_NATIONAL_SYSTEM_ID": HUB_ON_AXIS,
                "LIENTHONG_NATIONAL_SECRET": HUB_SECRET,
            }
            with chaos_site(
                request, "postgresql", tmp_path / "hub", env=env, max_attempts=MAX_ATTEMPTS
            ) as site:
                api, worker = site.start("serve"), site.start("worker")
                load = Load(
                    api.url,
                    axis_hub.url,
                    packages=FORWARDS,
                    rate=RATE / 2,
                    to_code=MINISTRY,
                    recipient=(SYSTEM_M, SECRET_M),
                )
                load.start().wait_answered(10)
                gw.mode = "slow"
                time.sleep(6)
                assert load.sending(), "the load ended before the axis answered HTML"
                gw.mode = "html"
                html_until = time.monotonic() + 6
                deadline = time.monotonic() + 30
                while (waiting := _retry_wait_in_metrics(api.url)) < 1:
                    assert time.monotonic() < deadline, "no failed forward in /metrics"
                    time.sleep(0.5)
                listed = site.cli("deliveries", "--state", "retry_wait").stdout
                found = re.search(r"(\d+) deliveries in state retry_wait", listed)
                assert found is not None, listed
                assert int(found.group(1)) >= 1, listed
                # The reason is shown: the HTML reply, or the breaker it opened.
                assert "vxp.reply" in listed or "peer.circuit_open" in listed, listed
                print(f"chaos: lienthong deliveries --state retry_wait:\n{listed[:600]}")
                time.sleep(max(0.0, html_until - time.monotonic()))
                gw.mode = "pass"
                load.recovered()
                figures = load.finish("postgresql", "national axis slow, then HTML", timeout=120)
                check(figures, FORWARDS)
                deadline = time.monotonic() + 15  # /metrics reads a 5 s cache
                while _retry_wait_in_metrics(api.url) > 0:
                    assert time.monotonic() < deadline, "retry_wait left after the drain"
                    time.sleep(0.5)
                print(f"chaos: gateway answers {gw.counts}; retry_wait seen {waiting:.0f}")
                assert worker.popen.poll() is None, worker.log()
    finally:
        unclean = axis.stop_all()
    assert not unclean, "\n".join(f"{p.command}:\n{p.log()}" for p in unclean)
