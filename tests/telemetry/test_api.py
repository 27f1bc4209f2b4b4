"""The telemetry history through the real server: heartbeats in, `/api/v1/metrics` and `/metrics` out.

One server per backend (SQLite, PostgreSQL) with the test fleet; samples are sent as an
agent sends them, inside `PUT /api/v1/sites/{site}/status`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fleetyard.services.wire import SiteReport
from fleetyard.services.wire_telemetry import SERIES, Sample
from tests.server.conftest import BACKENDS, ServerProcess, fleet_files
from tests.telemetry.helpers import sample

WAIT = 60.0  # seconds a background rollup may take to appear (a bound, not a measurement)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _report(site: str, batch: list[Sample]) -> dict[str, Any]:
    return SiteReport(site=site, agent_version="test", revision=None, samples=batch).model_dump(mode="json")


@pytest.fixture(scope="module")
def agents(server: ServerProcess) -> Iterator[dict[str, str]]:
    with server.client() as api:
        yield {site: api.create_token("agent", site).token for site in ("fra-1", "par-1")}


def _send(server: ServerProcess, token: str, site: str, batch: list[Sample]) -> None:
    for k in range(0, len(batch), 120):
        r = httpx.put(f"{server.url}/api/v1/sites/{site}/status", json=_report(site, batch[k:k + 120]),
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 204, r.text


def _get(server: ServerProcess, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, headers={"Authorization": f"Bearer {server.admin_token}"},
                     timeout=60)


# A fixed stretch in the past per test (whole minutes), so the tests of one module never overlap.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def _stretch(minutes_ago: int, n: int, first: int = 0) -> list[Sample]:
    start = NOW - timedelta(minutes=minutes_ago)
    return [sample(start + timedelta(seconds=5 * k), first + k) for k in range(n)]


def test_heartbeat_samples_are_stored_once_and_queried(server: ServerProcess, agents: dict[str, str]) -> None:
    batch = _stretch(200, 36)  # three minutes
    _send(server, agents["fra-1"], "fra-1", batch[::-1])  # any order
    _send(server, agents["fra-1"], "fra-1", batch[:20])  # a resent batch
    start, end = iso(batch[0].t), iso(batch[-1].t + timedelta(seconds=1))
    r = _get(server, "/api/v1/metrics/gpu_power_w", site="fra-1", start=start, end=end, resolution=0)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["series"], body["unit"], body["kind"], body["resolution"]) == ("gpu_power_w", "W", "gauge", 0)
    [line] = body["lines"]
    assert (line["site"], line["label"], line["estimated"]) == ("fra-1", "", False)
    assert line["points"] == [[iso(s.t), s.values["gpu_power_w"]] for s in batch]


def test_queries_by_workload_source_and_site(server: ServerProcess, agents: dict[str, str]) -> None:
    _send(server, agents["fra-1"], "fra-1", [sample(s.t, k, workloads=("chat-eu", "embed-batch"))
                                             for k, s in enumerate(_stretch(190, 12))])
    _send(server, agents["par-1"], "par-1", _stretch(190, 12, first=3))
    window = {"start": iso(NOW - timedelta(minutes=190)), "end": iso(NOW - timedelta(minutes=189))}
    r = _get(server, "/api/v1/metrics/replicas_running", **window).json()
    assert [(x["site"], x["label"]) for x in r["lines"]] == [("fra-1", "chat-eu"), ("fra-1", "embed-batch"),
                                                             ("par-1", "chat-eu")]
    r = _get(server, "/api/v1/metrics/replicas_running", workload="embed-batch", **window).json()
    assert [(x["site"], x["label"], len(x["points"])) for x in r["lines"]] == [("fra-1", "embed-batch", 12)]
    r = _get(server, "/api/v1/metrics/fetched_bytes", source="peer", site="par-1", **window).json()
    assert r["kind"] == "counter" and [x["points"][-1][1] for x in r["lines"]] == [1000.0 * 14]


def test_rollups_in_the_server_equal_the_raw_samples(server: ServerProcess, agents: dict[str, str]) -> None:
    batch = _stretch(180, 24)  # two whole minutes, long closed: the background job rolls them up
    _send(server, agents["par-1"], "par-1", batch)
    window = {"site": "par-1", "start": iso(batch[0].t), "end": iso(batch[0].t + timedelta(minutes=2))}
    deadline = time.monotonic() + WAIT
    while True:
        r = _get(server, "/api/v1/metrics/gpu_utilization", resolution=60, **window).json()
        if r["lines"] and len(r["lines"][0]["points"]) == 2:
            break
        assert time.monotonic() < deadline, f"no minute rollups after {WAIT} s: {r}"
        time.sleep(0.2)
    means = [sum(s.values["gpu_utilization"] for s in batch[k:k + 12]) / 12 for k in (0, 12)]
    assert [p[1] for p in r["lines"][0]["points"]] == pytest.approx(means, rel=1e-6)
    assert [p[0] for p in r["lines"][0]["points"]] == [iso(batch[0].t), iso(batch[12].t)]


@pytest.mark.parametrize(("span", "resolution"), [(timedelta(hours=1), 0), (timedelta(days=1), 60),
                                                  (timedelta(days=30), 3600)])
def test_the_resolution_is_chosen_from_the_range(server: ServerProcess, span: timedelta, resolution: int) -> None:
    r = _get(server, "/api/v1/metrics/it_kw", start=iso(NOW - span), end=iso(NOW))
    assert r.status_code == 200 and r.json()["resolution"] == resolution


@pytest.mark.parametrize(("params", "reason"), [
    ({"series": "gpu_watts"}, "unknown series 'gpu_watts'"),
    ({"start": iso(NOW), "end": iso(NOW - timedelta(hours=1))}, "must be after start"),
    ({"start": iso(NOW - timedelta(days=800)), "end": iso(NOW)}, "older than the longest retention (365 d)"),
    ({"start": iso(NOW - timedelta(days=1)), "end": iso(NOW), "resolution": 0}, "resolution 0 is kept for 6 h"),
    ({"start": iso(NOW - timedelta(days=300)), "end": iso(NOW), "resolution": 60}, "resolution 60 is kept for"),
    ({"start": "yesterday"}, "query parameter 'start': expected an ISO 8601 time"),
    ({"workload": "chat-eu"}, "series 'it_kw' has no workload label"),
    ({"series": "fetched_bytes", "workload": "chat-eu"}, "has no workload label (source)"),
    ({"resolution": 30}, "resolution 30: expected one of 0 (raw), 60, 3600"),
])
def test_bad_queries_answer_422_with_the_reason(server: ServerProcess, params: dict[str, Any], reason: str) -> None:
    params = dict(params)  # shared by both backends
    series = params.pop("series", "it_kw")
    r = _get(server, f"/api/v1/metrics/{series}", **params)
    assert r.status_code == 422 and reason in r.text, r.text


def test_the_catalog_lists_every_series(server: ServerProcess) -> None:
    r = _get(server, "/api/v1/metrics")
    assert r.status_code == 200
    assert {x["series"]: (x["unit"], x["label"], x["kind"]) for x in r.json()} == {
        name: (i.unit, i.label, i.kind) for name, i in SERIES.items()}


def test_metrics_has_the_site_labelled_series(server: ServerProcess, agents: dict[str, str]) -> None:
    now = datetime.now(UTC)
    _send(server, agents["fra-1"], "fra-1", [sample(now - timedelta(seconds=1), 3)])
    deadline = time.monotonic() + WAIT
    while 'fleetyard_site_gpu_power_w{site="fra-1"}' not in (text := _get(server, "/metrics").text):
        assert time.monotonic() < deadline, text
        time.sleep(0.5)  # the collector caches for a heartbeat interval
    assert 'fleetyard_site_gpu_power_w{site="fra-1"} 421.0' in text
    assert 'fleetyard_site_replicas_running{site="fra-1",workload="chat-eu"} 2.0' in text
    assert 'fleetyard_site_fetched_bytes_total{site="fra-1",source="peer"} 3000.0' in text
    assert "# TYPE fleetyard_site_fetched_bytes_total counter" in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_restarted_server_keeps_the_history(backend: str, new_database: Callable[[str], str | None],
                                             server_factory: Callable[..., ServerProcess]) -> None:
    s = server_factory(new_database(backend))
    with s.client() as api:
        api.apply(fleet_files())
        token = api.create_token("agent", "fra-1").token
    batch = _stretch(100, 12)
    _send(s, token, "fra-1", batch)
    window = {"site": "fra-1", "start": iso(batch[0].t), "end": iso(NOW), "resolution": 0}
    before = _get(s, "/api/v1/metrics/gpu_power_w", **window).json()
    s.stop()
    s.start()
    after = _get(s, "/api/v1/metrics/gpu_power_w", **window).json()
    assert after == before and len(after["lines"][0]["points"]) == 12
