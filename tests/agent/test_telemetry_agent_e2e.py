"""A real `fleetyard agent` process with real replicas (issue 12): a workload whose `metrics` point
at a hostile endpoint does not hold the heartbeat; pointed at its replicas' own /metrics, its
request series appear in the samples. The replica program is rollout_site.REPLICA."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.agent.rollout_site import Site, site_fixture, wait_until

METRICS = {"requests": "app_requests_total", "latency": "app_request_duration_seconds"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from site_fixture(tmp_path)


class Trickle:
    """An endpoint that answers 200 and then sends a byte every half second: a stuck exporter."""

    def __init__(self) -> None:
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                owner.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                try:
                    for _ in range(20):
                        self.wfile.write(b"#")
                        self.wfile.flush()
                        time.sleep(0.5)
                except OSError:
                    pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def samples(site: Site) -> list[dict[str, float]]:
    with site.control.lock:
        return [s.values for r in site.control.reports for s in r.samples]


def test_a_stuck_metrics_endpoint_does_not_hold_the_heartbeat_and_real_ones_give_series(site: Site) -> None:
    stuck = Trickle()
    try:
        ref = site.push("1", requests=40, errors=4, latency_s=0.2)
        site.want(ref, replicas=2, metrics={"port": stuck.port, **METRICS})
        site.start_agent()
        wait_until(lambda: any(v.get("replicas_running/chat") == 2 for v in samples(site)), "2 replicas in a sample")
        wait_until(lambda: stuck.hits >= 2, "the stuck endpoint scraped twice")
        with site.control.lock:
            seen = len(site.control.reports)
        wait_until(lambda: len(site.control.reports) >= seen + 4, "heartbeats go on while the scrape hangs",
                   timeout=30)
        assert not any("requests_per_s/chat" in v for v in samples(site))
        site.want(ref, replicas=2, metrics=METRICS)  # the replicas' own FLEETYARD_PORT
        last = wait_until(lambda: next((v for v in reversed(samples(site)) if "requests_per_s/chat" in v), None),
                          "request series from the replicas")
        assert last["requests_per_s/chat"] == 0.0  # the replica's counters stand still
        assert "error_ratio/chat" not in last  # no request between the two scrapes: no ratio
        assert last["replicas_healthy/chat"] == 2
    finally:
        stuck.close()
