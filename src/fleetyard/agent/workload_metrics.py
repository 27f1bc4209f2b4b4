"""Request metrics of the workloads that name a `metrics` endpoint (issue 12, spec/workload_metrics.py).

A background thread scrapes every replica of such a workload (`http://127.0.0.1:{port}{path}`,
port: the spec's, else the replica's FLEETYARD_PORT) once per `every` seconds, each scrape
bounded by `timeout` seconds in all and `max_bytes` of text. From two scrapes of the same
replica process it derives, for the workload (all its replicas summed):

- requests_per_s: the growth of the `requests` counter over the seconds between the scrapes;
- error_ratio: the growth of the `errors` counter over that of `requests` (without an
  `errors` counter: the `requests` samples with a 5xx `code`/`status` label);
- latency_p50_s, latency_p99_s: quantiles of the growth of the `latency` histogram's
  buckets, interpolated inside the bucket as Prometheus' `histogram_quantile` does.

A replica seen once, or whose counter went down (it restarted), contributes from its next
scrape. A workload with no request between two scrapes has a rate of 0 and no ratio or
quantiles. An endpoint that is slow, huge, refuses or serves garbage gives nothing for
that replica; the agent loop only ever reads the last results (`stats`), so it never waits.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fleetyard.agent.health import p95_ms
from fleetyard.agent.runtime.base import Endpoint
from fleetyard.agent.telemetry import fetch_text
from fleetyard.spec.workload_metrics import WorkloadMetrics

__all__ = ["Counts", "RequestStats", "WorkloadScraper", "read_counts"]

TIMEOUT_S = 2.0
MAX_BYTES = 1024 * 1024


@dataclass
class Counts:
    """What one scrape of one replica said: counter totals and cumulative buckets (le -> count)."""

    requests: float = 0.0
    errors: float = 0.0
    coded_errors: float = 0.0  # 5xx-labelled requests, for when there is no errors counter
    has_errors: bool = False
    buckets: dict[float, float] = field(default_factory=dict)

    @property
    def failed(self) -> float:
        return self.errors if self.has_errors else self.coded_errors


@dataclass(frozen=True)
class RequestStats:
    """One workload's requests between its last two scrapes."""

    requests_per_s: float
    error_ratio: float | None
    latency_p50_s: float | None
    latency_p99_s: float | None


def _named(sample: str, name: str) -> bool:
    return sample == name or sample == f"{name}_total"


def read_counts(text: str, spec: WorkloadMetrics) -> Counts:
    """The spec's counters and histogram in one scrape (ValueError: not Prometheus text)."""
    out = Counts()
    bucket = f"{spec.latency}_bucket"
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not math.isfinite(s.value) or s.value < 0:
                continue
            if _named(s.name, spec.requests):
                out.requests += s.value
                if str(s.labels.get("code", s.labels.get("status", ""))).startswith("5"):
                    out.coded_errors += s.value
            elif _named(s.name, spec.errors):
                out.errors += s.value
                out.has_errors = True
            elif s.name == bucket and "le" in s.labels:
                try:
                    le = float(s.labels["le"])
                except ValueError:
                    continue
                if not math.isnan(le) and le >= 0:
                    out.buckets[le] = out.buckets.get(le, 0.0) + s.value
    return out


@dataclass
class _Seen:
    at: float
    counts: Counts


@dataclass
class _Delta:
    seconds: float = 0.0
    requests: float = 0.0
    failed: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)


def _delta(old: _Seen, new: _Seen) -> _Delta | None:
    """Growth between two scrapes of one process (None: a counter went down, it restarted)."""
    a, b = old.counts, new.counts
    if b.requests < a.requests or b.failed < a.failed or new.at <= old.at:
        return None
    grown = {le: n - a.buckets.get(le, 0.0) for le, n in b.buckets.items()}
    if any(v < 0 for v in grown.values()):
        return None
    return _Delta(new.at - old.at, b.requests - a.requests, b.failed - a.failed, grown)


class WorkloadScraper:
    """Scrapes the replicas it is given, in a thread; `stats()` is what the loop reads."""

    def __init__(self, *, every: float = 5.0, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.every, self.timeout, self.max_bytes = every, timeout, max_bytes
        self._now = monotonic
        self._lock = threading.Lock()
        self._targets: list[tuple[Endpoint, WorkloadMetrics]] = []
        self._seen: dict[tuple[str, int, float], _Seen] = {}
        self._stats: dict[str, RequestStats] = {}
        self._http = httpx.Client(trust_env=False, follow_redirects=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workload-metrics", daemon=True)
        self.rounds = 0
        self.failures = 0  # scrapes that gave nothing (refused, slow, too big, not Prometheus text)

    def set_targets(self, endpoints: Sequence[Endpoint], specs: Mapping[str, WorkloadMetrics | None]) -> None:
        """The replicas running now and every desired workload's `metrics` (None: not scraped)."""
        wanted = [(e, spec) for e in endpoints if (spec := specs.get(e.workload)) is not None]
        with self._lock:
            self._targets = wanted

    def stats(self) -> dict[str, RequestStats]:
        """The last round's result per workload (present once two scrapes of one of its replicas succeeded)."""
        with self._lock:
            return dict(self._stats)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout + 5.0)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scrape_round()
            self._stop.wait(self.every)

    def scrape_round(self) -> None:
        """Scrape every target once and update `stats` (the thread's step; tests call it directly)."""
        with self._lock:
            targets = list(self._targets)
        results: dict[tuple[str, int, float], tuple[str, _Seen | None]] = {}
        scraped: set[tuple[int, str]] = set()
        for e, spec in targets:
            port = spec.port if spec.port is not None else e.port
            key = (e.workload, port, e.started if spec.port is None else 0.0)
            if (port, spec.path) in scraped:
                continue  # a fixed port shared by the replicas: scraped once
            scraped.add((port, spec.path))
            results[key] = (e.workload, self._scrape(port, spec))
        with self._lock:
            per: dict[str, _Delta] = {}
            for key, (workload, seen) in results.items():
                if seen is None:
                    self.failures += 1
                    continue
                old = self._seen.get(key)
                self._seen[key] = seen
                d = _delta(old, seen) if old is not None else None
                if d is None:
                    continue
                total = per.setdefault(workload, _Delta())
                total.seconds = max(total.seconds, d.seconds)
                total.requests += d.requests
                total.failed += d.failed
                for le, n in d.buckets.items():
                    total.buckets[le] = total.buckets.get(le, 0.0) + n
            for key in [k for k in self._seen if k not in results]:
                del self._seen[key]  # replicas gone
            self._stats = {workload: _stats(d) for workload, d in per.items()}  # no fresh pair: no stats
            self.rounds += 1

    def _scrape(self, port: int, spec: WorkloadMetrics) -> _Seen | None:
        text = fetch_text(self._http, f"http://127.0.0.1:{port}{spec.path}", self.timeout, self.max_bytes)
        if text is None:
            return None
        try:
            return _Seen(self._now(), read_counts(text, spec))
        except Exception:  # hostile text (the parser raises several kinds): nothing from this replica
            return None


def _stats(d: _Delta) -> RequestStats:
    rate = d.requests / d.seconds if d.seconds > 0 else 0.0
    ratio = min(d.failed / d.requests, 1.0) if d.requests > 0 else None
    p50, p99 = p95_ms(d.buckets, 0.5), p95_ms(d.buckets, 0.99)
    return RequestStats(requests_per_s=rate, error_ratio=ratio,
                        latency_p50_s=p50 / 1000.0 if p50 is not None else None,
                        latency_p99_s=p99 / 1000.0 if p99 is not None else None)
