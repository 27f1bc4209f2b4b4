"""The agent's probe and metrics window against real HTTP servers; known-good versions; the
Kubernetes rendering of a rollout's probe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fleetyard.agent.health import Prober, p95_ms, read_metrics
from fleetyard.agent.known_good import KnownGood
from fleetyard.agent.localfleet import free_port
from fleetyard.agent.metrics import AgentMetrics
from fleetyard.agent.runtime import Endpoint, WorkloadRun, render_deployment
from fleetyard.spec.rollout import MetricsGate, ProbeSpec
from tests.agent.rollout_site import wait_until

METRICS = """\
# TYPE http_requests counter
http_requests_total{code="200",route="/v1/chat"} 90
http_requests_total{code="503",route="/v1/chat"} 6
http_requests_total{code="500",route="/v1/embed"} 4
# TYPE grpc_requests counter
grpc_requests_total{status="5xx"} 0
grpc_requests_total{status="200"} 100
# TYPE other_total counter
other_total{code="500"} 1000
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="/v1/chat",le="0.1"} 50
http_request_duration_seconds_bucket{route="/v1/chat",le="0.5"} 90
http_request_duration_seconds_bucket{route="/v1/chat",le="+Inf"} 100
http_request_duration_seconds_sum{route="/v1/chat"} 20
http_request_duration_seconds_count{route="/v1/chat"} 100
http_request_duration_seconds_bucket{route="/v1/embed",le="0.1"} 50
http_request_duration_seconds_bucket{route="/v1/embed",le="0.5"} 100
http_request_duration_seconds_bucket{route="/v1/embed",le="+Inf"} 100
http_request_duration_seconds_sum{route="/v1/embed"} 10
http_request_duration_seconds_count{route="/v1/embed"} 100
"""


def test_the_metrics_convention_counts_5xx_of_requests_total_and_sums_histograms() -> None:
    c = read_metrics(METRICS)
    assert (c.requests, c.errors) == (200.0, 10.0)  # other_total has no _requests_total name: not a request
    assert c.buckets == {0.1: 100.0, 0.5: 190.0, float("inf"): 200.0}
    # rank 190 of 200 falls at the top of the 0.1-0.5 s bucket
    assert p95_ms(c.buckets) == pytest.approx(500.0)
    assert p95_ms({0.1: 10.0, 0.2: 20.0, float("inf"): 20.0}) == pytest.approx(190.0)
    assert p95_ms({0.1: 0.0, 1.0: 5.0, float("inf"): 100.0}) == pytest.approx(1000.0)  # beyond the last edge
    assert p95_ms({}) is None and p95_ms({float("inf"): 0.0}) is None
    junk = read_metrics('x_requests_total{code="500"} NaN\nx_requests_total{code="200"} -3\n'
                        'x_request_duration_seconds_bucket{le="bad"} 4\nx_requests_total{code="200"} 2\n')
    assert (junk.requests, junk.errors, junk.buckets) == (2.0, 0.0, {})


class _App:
    """A real HTTP server whose /healthz answers `code` after `delay` seconds, with `metrics`."""

    def __init__(self) -> None:
        self.code, self.delay, self.metrics = 200, 0.0, METRICS
        app = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                if self.path == "/healthz":
                    time.sleep(app.delay)
                    code, body = app.code, b"ok"
                else:
                    code, body = 200, app.metrics.encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the prober gave up on us

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.http.daemon_threads = True
        self.port = int(self.http.server_address[1])
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def app() -> Iterator[_App]:
    a = _App()
    yield a
    a.close()


@pytest.fixture
def prober() -> Iterator[Prober]:
    p = Prober()
    p.start()
    yield p
    p.stop()


PROBE = ProbeSpec(http="/healthz", timeout_s=0.5, period_s=0.1)


def verdict(prober: Prober, ep: Endpoint, ok: bool, error: str | None) -> bool:
    return prober.ready(ep.workload, ep.port, ep.started) is ok and \
        prober.summary(ep.workload, ep.model_ref).last_error == error


def test_probe_verdicts_and_their_words(prober: Prober, app: _App) -> None:
    ep = Endpoint("chat", 0, app.port, "m:2", 1.0, PROBE)
    gate = MetricsGate(url_path="/metrics")
    assert prober.ready("chat", app.port, 1.0) is None  # not probed yet: not ready
    prober.set_targets([ep], {"chat": gate})
    wait_until(lambda: verdict(prober, ep, True, None), "a healthy verdict")
    s = prober.summary("chat", "m:2")
    assert s.error_ratio == pytest.approx(0.05) and s.p95_ms == pytest.approx(500.0)
    app.code = 500
    wait_until(lambda: verdict(prober, ep, False, "GET /healthz returned 500"), "a 500")
    app.code, app.delay = 200, 2.0
    wait_until(lambda: verdict(prober, ep, False, "GET /healthz timed out after 0.5 s"), "a timeout")
    app.delay = 0.0
    wait_until(lambda: verdict(prober, ep, True, None), "healthy again")
    dead = Endpoint("chat", 1, free_port(), "m:2", 1.0, PROBE)
    prober.set_targets([ep, dead], {"chat": gate})
    wait_until(lambda: verdict(prober, dead, False, "GET /healthz: connection refused"), "connection refused")


def test_the_window_keeps_counts_of_replica_processes_that_restarted(prober: Prober, app: _App) -> None:
    gate = {"chat": MetricsGate()}
    first = Endpoint("chat", 0, app.port, "m:2", 1.0, PROBE)
    prober.set_targets([first], gate)
    wait_until(lambda: prober.ready("chat", app.port, 1.0), "first process probed")
    wait_until(lambda: prober.summary("chat", "m:2").error_ratio is not None, "first process scraped")
    # the replica restarted: a new process (new start time) counts from zero again
    app.metrics = 'http_requests_total{code="500"} 20\n'
    again = Endpoint("chat", 0, app.port, "m:2", 2.0, PROBE)
    prober.set_targets([again], gate)
    wait_until(lambda: prober.summary("chat", "m:2").error_ratio == pytest.approx(30 / 220), "both processes counted")
    # another version of the workload replaces it: the m:2 window goes, m:3 starts from nothing
    app.metrics = 'http_requests_total{code="200"} 10\n'
    third = Endpoint("chat", 0, app.port, "m:3", 3.0, PROBE)
    prober.set_targets([third], gate)
    wait_until(lambda: prober.summary("chat", "m:3").error_ratio == 0.0, "m:3 counted alone")
    assert prober.summary("chat", "m:2").error_ratio is None


def test_a_metrics_gate_without_a_probe_is_scraped_but_decides_no_readiness(prober: Prober, app: _App) -> None:
    ep = Endpoint("chat", 0, app.port, "m:2", 1.0, None)
    prober.set_targets([ep], {"chat": MetricsGate()})
    wait_until(lambda: prober.summary("chat", "m:2").error_ratio is not None, "a scrape")
    assert prober.summary("chat", "m:2").error_ratio == pytest.approx(0.05)
    assert prober.ready("chat", app.port, 1.0) is None  # readiness stays the runtime's "up for a second"


def test_known_good_versions_survive_a_restart_most_recent_first(tmp_path: Path) -> None:
    path = tmp_path / "state" / "known_good.json"
    k = KnownGood(path)
    assert k.latest("chat") is None
    k.mark("chat", "m:1")
    k.mark("chat", "m:2")
    k.mark("chat", "m:1")
    for v in range(3, 8):
        k.mark("embed", f"e:{v}")
    again = KnownGood(path)
    assert again.latest("chat") == "m:1" and ("chat", "m:2") in again and ("chat", "m:3") not in again
    assert again.refs() == {"m:1", "m:2", "e:7", "e:6", "e:5", "e:4"}  # four per workload
    path.write_text("{not json")
    assert KnownGood(path).latest("chat") is None  # a damaged file is no known-good version


def test_kubernetes_gets_the_probe_as_readiness_and_surges_without_unavailability(tmp_path: Path) -> None:
    run = WorkloadRun("chat", "m:2", tmp_path, 4, ("python", "serve.py"), probe=PROBE, max_unavailable=2)
    doc = render_deployment(run, site="par-1")
    c = doc["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1,
                                   "timeoutSeconds": 1}
    assert c["livenessProbe"] == {**c["readinessProbe"], "failureThreshold": 3}
    assert {"name": "FLEETYARD_PORT", "value": "8080"} in c["env"]
    assert doc["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}
    plain = render_deployment(WorkloadRun("chat", "m:2", tmp_path, 4, ("python", "serve.py")), site="par-1")
    assert "strategy" not in plain["spec"]
    assert "readinessProbe" not in plain["spec"]["template"]["spec"]["containers"][0]


def test_rollout_metrics_follow_the_desired_version() -> None:
    m = AgentMetrics()
    m.set_rollout("chat", "m:2", "running", 0)
    m.set_rollout("chat", "m:2", "passed", 1)
    text = m.render().decode()
    assert 'fleetyard_agent_rollout_validation{model="m:2",state="passed",workload="chat"} 1.0' in text
    assert 'fleetyard_agent_rollout_validation{model="m:2",state="running",workload="chat"} 0.0' in text
    assert 'fleetyard_agent_rollout_ready_replicas{model="m:2",workload="chat"} 1.0' in text
    m.set_rollout("chat", "m:1", "none", 2)  # a rollback: the series of m:2 go
    text = m.render().decode()
    assert 'model="m:2"' not in text
    assert 'fleetyard_agent_rollout_ready_replicas{model="m:1",workload="chat"} 2.0' in text
