"""Workload request metrics (issue 12): a replica's Prometheus text, served by a real loopback
HTTP server whose counters the test advances, gives the right rate, error ratio and quantiles;
hostile endpoints (huge, garbage, slow) give nothing and hold nobody; the spec's `metrics`
block is checked like every spec; and DCGM readings come from a real exporter-shaped endpoint.

The scraper's clock is a `ManualClock`, so rates are exact and no assert depends on speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from fleetyard.agent.runtime.base import Endpoint
from fleetyard.agent.telemetry import GpuTelemetry, parse_dcgm, read_nvidia_smi
from fleetyard.agent.workload_metrics import WorkloadScraper, read_counts
from fleetyard.replication import ManualClock
from fleetyard.spec import SpecError, load_fleet
from fleetyard.spec.workload_metrics import WorkloadMetrics
from tests.agent.fleetspec import write_fleet

SPEC = WorkloadMetrics()


class TextServer:
    """Serves whatever `body()` returns at /metrics (`delay`: seconds between 1-byte writes)."""

    def __init__(self, body: Callable[[], bytes], *, delay: float = 0.0) -> None:
        owner = self
        self.body, self.delay, self.hits = body, delay, 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                owner.hits += 1
                data = owner.body()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    if owner.delay:
                        for i in range(min(len(data), 50)):  # a trickle, bounded so the server thread ends
                            self.wfile.write(data[i:i + 1])
                            self.wfile.flush()
                            time.sleep(owner.delay)
                    else:
                        self.wfile.write(data)
                except OSError:
                    pass  # the scraper hung up

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def exposition(requests: float, errors: float, buckets: dict[str, float], *, with_errors: bool = True) -> bytes:
    lines = ["# TYPE http_requests_total counter",
             f'http_requests_total{{code="200"}} {requests - errors}',
             f'http_requests_total{{code="503"}} {errors}']
    if with_errors:
        lines += ["# TYPE http_requests_errors_total counter", f"http_requests_errors_total {errors}"]
    lines.append("# TYPE http_request_duration_seconds histogram")
    lines += [f'http_request_duration_seconds_bucket{{le="{le}"}} {n}' for le, n in buckets.items()]
    lines += [f"http_request_duration_seconds_count {buckets['+Inf']}", "http_request_duration_seconds_sum 1"]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def served() -> Iterator[Callable[..., TextServer]]:
    servers: list[TextServer] = []

    def make(body: Callable[[], bytes], **kw: float) -> TextServer:
        servers.append(TextServer(body, **kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def endpoint(port: int, workload: str = "chat", index: int = 0) -> Endpoint:
    return Endpoint(workload=workload, index=index, port=port, model_ref="m:1", started=1.0)


@pytest.mark.parametrize("with_errors", [True, False], ids=["errors-counter", "5xx-code-label"])
def test_rate_error_ratio_and_quantiles_from_counter_deltas(served: Callable[..., TextServer],
                                                            with_errors: bool) -> None:
    state = {"requests": 100.0, "errors": 5.0, "buckets": {"0.1": 60.0, "0.5": 90.0, "1": 100.0, "+Inf": 100.0}}
    srv = served(lambda: exposition(state["requests"], state["errors"], state["buckets"],  # type: ignore[arg-type]
                                    with_errors=with_errors))
    clock = ManualClock()
    scraper = WorkloadScraper(monotonic=clock.monotonic)
    try:
        scraper.set_targets([endpoint(srv.port)], {"chat": SPEC, "idle": None})
        scraper.scrape_round()
        assert scraper.stats() == {}  # one scrape: no rate yet
        clock.advance(10.0)
        # 200 more requests in 10 s, 20 of them failed; their latencies: 100 <= 0.1 s, 80 in (0.1, 0.5], 20 in (0.5, 1]
        state.update(requests=300.0, errors=25.0, buckets={"0.1": 160.0, "0.5": 270.0, "1": 300.0,
                                                            "+Inf": 300.0})
        scraper.scrape_round()
        s = scraper.stats()["chat"]
        assert s.requests_per_s == pytest.approx(20.0)
        assert s.error_ratio == pytest.approx(0.1)
        assert s.latency_p50_s == pytest.approx(0.1)  # rank 100 of 200: the top of the first bucket
        assert s.latency_p99_s == pytest.approx(0.5 + 0.5 * (198 - 180) / 20)
        clock.advance(5.0)
        scraper.scrape_round()  # nothing happened: rate 0, no ratio, no quantiles
        idle = scraper.stats()["chat"]
        assert (idle.requests_per_s, idle.error_ratio, idle.latency_p50_s) == (0.0, None, None)
        state.update(requests=10.0, errors=0.0, buckets={"0.1": 10.0, "0.5": 10.0, "1": 10.0, "+Inf": 10.0})
        clock.advance(5.0)
        scraper.scrape_round()  # the counter went down: a restart, no rate from this pair
        assert "chat" not in scraper.stats()
    finally:
        scraper.stop()


def test_replicas_are_summed_and_a_fixed_port_is_scraped_once(served: Callable[..., TextServer]) -> None:
    n = {"a": 0.0, "b": 0.0}
    a = served(lambda: exposition(n["a"], 0, {"+Inf": n["a"]}))
    b = served(lambda: exposition(n["b"], 0, {"+Inf": n["b"]}))
    clock = ManualClock()
    scraper = WorkloadScraper(monotonic=clock.monotonic)
    try:
        scraper.set_targets([endpoint(a.port, index=0), endpoint(b.port, index=1)], {"chat": SPEC})
        scraper.scrape_round()
        n.update(a=30.0, b=70.0)
        clock.advance(10.0)
        scraper.scrape_round()
        assert scraper.stats()["chat"].requests_per_s == pytest.approx(10.0)
        shared = WorkloadMetrics(port=a.port)
        before = a.hits
        scraper.set_targets([endpoint(b.port, index=0), endpoint(b.port + 0, index=1)], {"chat": shared})
        scraper.scrape_round()
        assert a.hits == before + 1  # two replicas, one fixed port: one scrape
    finally:
        scraper.stop()


HUGE = b"x 1\n" * (600 * 1024)  # 2.4 MB of valid-looking text: over the 1 MiB bound


@pytest.mark.parametrize("body,delay", [(HUGE, 0.0), (b"\x00\xff{not prometheus text at all\n" * 50, 0.0),
                                        (b"http_requests_total 1\n" * 50, 0.2)],
                         ids=["huge", "garbage", "slow-trickle"])
def test_hostile_endpoints_give_nothing_within_the_bound(served: Callable[..., TextServer], body: bytes,
                                                        delay: float) -> None:
    bad = served(lambda: body, delay=delay)
    good = served(lambda: exposition(0, 0, {"+Inf": 0}))
    clock = ManualClock()
    scraper = WorkloadScraper(timeout=0.5, monotonic=clock.monotonic)
    try:
        scraper.set_targets([endpoint(bad.port, "bad"), endpoint(good.port, "good")],
                            {"bad": SPEC, "good": SPEC})
        for _ in range(2):
            scraper.scrape_round()
            clock.advance(5.0)
        assert scraper.failures == 2  # the hostile one, each round
        assert "bad" not in scraper.stats() and "good" in scraper.stats()
    finally:
        scraper.stop()


def test_the_scraper_thread_keeps_going_and_is_never_waited_for(served: Callable[..., TextServer]) -> None:
    slow = served(lambda: b"http_requests_total 1\n" * 50, delay=0.5)
    scraper = WorkloadScraper(every=0.05, timeout=0.3)
    scraper.set_targets([endpoint(slow.port)], {"chat": SPEC})
    scraper.start()
    try:
        reads = 0
        deadline = time.monotonic() + 60  # a bound on a hang, not a measurement
        while scraper.rounds < 3:  # stats() answers at once while scrapes hang
            assert time.monotonic() < deadline, f"the scraper thread made {scraper.rounds} rounds in 60 s"
            assert scraper.stats() == {}
            reads += 1
            time.sleep(0.01)
        assert reads > scraper.rounds
    finally:
        scraper.stop()


def test_read_counts_takes_names_with_or_without_total() -> None:
    text = "app_req_total 7\napp_fail 2\nlat_bucket{le=\"0.2\"} 7\nlat_bucket{le=\"+Inf\"} 7\n"
    c = read_counts(text, WorkloadMetrics(requests="app_req", errors="app_fail", latency="lat"))
    assert (c.requests, c.failed, c.buckets) == (7.0, 2.0, {0.2: 7.0, float("inf"): 7.0})


# --- the spec's metrics block ------------------------------------------------------------------------------


def fleet_with(tmp_path: Path, metrics: object) -> Path:
    path = write_fleet(tmp_path / "fleet", {"par-1": (48.86, 2.35)}, "chat:1")
    docs = list(yaml.safe_load_all(path.read_text()))
    docs[-1]["spec"]["metrics"] = metrics
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_the_metrics_block_loads_with_its_defaults(tmp_path: Path) -> None:
    fleet = load_fleet([fleet_with(tmp_path, {"port": 9100})]).fleet
    m = fleet.workloads["chat"].spec.metrics
    assert m == WorkloadMetrics(path="/metrics", port=9100, requests="http_requests_total",
                                errors="http_requests_errors_total", latency="http_request_duration_seconds")


@pytest.mark.parametrize("metrics,path,words", [
    ({"port": 70000}, "spec.metrics.port", "must be <= 65,535, got 70000"),
    ({"path": "metrics"}, "spec.metrics.path", "expected a URL path starting with '/'"),
    ({"requests": "http-requests"}, "spec.metrics.requests", "expected a Prometheus metric name"),
    ({"latency_ms": "x"}, "spec.metrics.latency_ms", "latency"),
], ids=["port-range", "path-not-absolute", "bad-metric-name", "unknown-field"])
def test_a_wrong_metrics_block_is_a_clear_problem(tmp_path: Path, metrics: object, path: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        load_fleet([fleet_with(tmp_path, metrics)])
    problems = [p for p in err.value.problems if p.severity == "error"]
    assert len(problems) == 1 and problems[0].path == path and words in problems[0].message
    assert problems[0].line is not None


# --- GPU readings ------------------------------------------------------------------------------------------

DCGM = """# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a",modelName="NVIDIA H100 80GB HBM3"} 301.5
DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-b",modelName="NVIDIA H100 80GB HBM3"} 298.5
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a"} 80
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b"} 60
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-a"} 61
DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-b"} 67
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a"} 1024
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b"} 3072
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-a"} 1980
"""


def test_dcgm_readings_from_a_real_exporter_endpoint(served: Callable[..., TextServer]) -> None:
    srv = served(lambda: DCGM.encode())
    gpu = GpuTelemetry(binary=None, dcgm_url=f"http://127.0.0.1:{srv.port}/metrics")
    assert gpu.reading().empty  # the first scrape runs in the background; the loop does not wait
    assert gpu.wait_dcgm(1)
    r = gpu.reading()
    assert (r.power_w, r.utilization, r.temperature_c, r.gpus) == (600.0, 70.0, 67.0, 2)
    assert r.memory_used_bytes == 4096 * 1024 * 1024
    assert gpu.read().gpu_power_w == 600.0


def test_dcgm_garbage_or_nothing_gives_no_reading(served: Callable[..., TextServer]) -> None:
    srv = served(lambda: b"\x00garbage{{{\n")
    gpu = GpuTelemetry(binary=None, dcgm_url=f"http://127.0.0.1:{srv.port}/metrics")
    gpu.reading()
    assert gpu.wait_dcgm(1) and gpu.reading().empty
    assert parse_dcgm("# nothing here\n").empty


def test_nvidia_smi_lines_with_unreadable_values() -> None:
    r = read_nvidia_smi("312.45, 87, 70, 40960\n[N/A], [N/A], 55, [Not Supported]\n")
    assert (r.power_w, r.utilization, r.temperature_c, r.gpus) == (312.45, 87.0, 70.0, 2)
    assert r.memory_used_bytes == 40960 * 1024 * 1024
