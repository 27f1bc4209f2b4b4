"""Health of the replicas at a site: the HTTP probe and the metrics window (issue 10).

For every replica of a workload whose desired state has `health.probe`, a worker
thread sends `GET http://127.0.0.1:{FLEETYARD_PORT}{probe.http}` every `period_s`
(first at once), bounded by `timeout_s`; a 2xx answer is healthy, anything else is
a failure worded for a person: "GET /healthz returned 500", "GET /healthz timed out
after 2 s", "GET /healthz: connection refused". The agent loop never waits for a
probe: it reads the last verdicts (`ready`, `summary`).

With `health.metrics`, the same round scrapes `url_path` (Prometheus text format;
without a probe, every 5 s with a 2 s timeout) and reads, by convention
(docs/rollouts.md, At the site):

- requests: every counter sample named `*_requests_total` with a `code` or `status`
  label; errors are those whose label starts with "5" (500, 503, "5xx");
- latency: every histogram named `*_request_duration_seconds` (its `_bucket`
  samples, `le` in seconds), all label sets summed.

The window is the new version's life at the site: each replica of that version is a
process started for it, so its counters count from zero; counts of replicas that
died or restarted are kept (a counter that goes down is a restart). The error ratio
is errors / requests over the window (None before any request); p95 is interpolated
within the histogram bucket, as Prometheus' `histogram_quantile` does.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fleetyard.agent.runtime.base import Endpoint
from fleetyard.spec.rollout import MetricsGate, ProbeSpec

__all__ = ["HealthSummary", "Prober", "WindowCounts", "p95_ms", "read_metrics"]

TICK = 0.05
MAX_P95_MS = 1e9  # what the report's field allows (an exporter's absurd bucket edge is clamped)
SCRAPE_ONLY = ProbeSpec(timeout_s=2.0, period_s=5.0)  # the schedule of a metrics gate without a probe
MAX_INCARNATIONS = 256  # replica processes remembered per (workload, version) window
REQUESTS = "_requests_total"
DURATION = "_request_duration_seconds_bucket"


@dataclass
class WindowCounts:
    """What one replica process said so far: requests, errors, latency buckets (le -> count)."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    def add(self, other: WindowCounts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for le, n in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0.0) + n


def read_metrics(text: str) -> WindowCounts:
    """Requests, 5xx and latency buckets of one scrape (the convention in the module docstring)."""
    out = WindowCounts()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not math.isfinite(s.value) or s.value < 0:
                continue  # not a count: ignored rather than poisoning the window
            if s.name.endswith(REQUESTS):
                code = s.labels.get("code", s.labels.get("status"))
                if code is None:
                    continue
                out.requests += s.value
                if code.startswith("5"):
                    out.errors += s.value
            elif s.name.endswith(DURATION) and "le" in s.labels:
                try:
                    le = float(s.labels["le"])
                except ValueError:
                    continue
                if math.isnan(le) or le < 0:
                    continue
                out.buckets[le] = out.buckets.get(le, 0.0) + s.value
    return out


def p95_ms(buckets: Mapping[float, float], q: float = 0.95) -> float | None:
    """The q-quantile in milliseconds of cumulative buckets (le seconds -> count), or None."""
    if not buckets:
        return None
    edges = sorted(buckets)
    total = buckets[edges[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le in edges:
        n = buckets[le]
        if n >= rank:
            if le == float("inf"):
                return lower * 1000.0  # beyond the last finite bucket: its upper edge is all we know
            inside = n - below
            frac = (rank - below) / inside if inside > 0 else 1.0
            return (lower + (le - lower) * frac) * 1000.0
        lower, below = le, n
    return lower * 1000.0


@dataclass(frozen=True)
class HealthSummary:
    """One workload version as the probes and scrapes saw it."""

    last_error: str | None = None
    error_ratio: float | None = None
    p95_ms: float | None = None


@dataclass
class _Target:
    endpoint: Endpoint
    metrics: MetricsGate | None
    due: float = 0.0
    busy: bool = False
    ok: bool | None = None
    error: str | None = None
    counts: WindowCounts = field(default_factory=WindowCounts)


@dataclass
class _Window:
    """Counts of the replica processes of one (workload, version): key (port, started) -> last counts."""

    seen: dict[tuple[int, float], WindowCounts] = field(default_factory=dict)
    banked: WindowCounts = field(default_factory=WindowCounts)  # processes that restarted (counters reset)
    last_error: str | None = None


def _fmt_s(seconds: float) -> str:
    return f"{seconds:g} s"


class Prober:
    """Probes and scrapes the endpoints it is given, in worker threads; see the module docstring."""

    def __init__(self, *, workers: int = 4, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._lock = threading.Lock()
        self._targets: dict[tuple[str, int, float], _Target] = {}
        self._windows: dict[tuple[str, str], _Window] = {}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fleetyard-probe")
        self._http = httpx.Client(trust_env=False, follow_redirects=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)
        self.probes = 0

    # ---- what the loop uses ------------------------------------------------------------------

    def set_targets(self, endpoints: Sequence[Endpoint], metrics: Mapping[str, MetricsGate | None]) -> None:
        """The replicas to watch now (with a probe or a metrics gate); `metrics`: every desired workload's gate."""
        wanted = {(e.workload, e.port, e.started): e for e in endpoints
                  if e.probe is not None or metrics.get(e.workload) is not None}
        with self._lock:
            for key in [k for k in self._targets if k not in wanted]:
                del self._targets[key]
            for key, e in wanted.items():
                t = self._targets.get(key)
                if t is None:
                    self._targets[key] = _Target(e, metrics.get(e.workload))
                else:
                    t.endpoint, t.metrics = e, metrics.get(e.workload)
            live = {(e.workload, e.model_ref) for e in wanted.values()}
            running = {w for w, _ in live}
            for wkey in list(self._windows):
                # a version no replica runs any more (while others of the workload run), or a workload
                # no longer desired; a workload with nothing running keeps its window (a restart)
                if wkey[0] not in metrics or (wkey not in live and wkey[0] in running):
                    del self._windows[wkey]

    def ready(self, workload: str, port: int, started: float) -> bool | None:
        """The last probe verdict of that replica process (None: not probed yet)."""
        with self._lock:
            t = self._targets.get((workload, port, started))
            return None if t is None else t.ok

    def summary(self, workload: str, model_ref: str) -> HealthSummary:
        """Last probe error, error ratio and p95 of a workload's version over its window."""
        with self._lock:
            w = self._windows.get((workload, model_ref))
            mine = [t for t in self._targets.values()
                    if t.endpoint.workload == workload and t.endpoint.model_ref == model_ref]
            failing = sorted((t.endpoint.index, t.error or "") for t in mine if t.ok is False)
            # a replica failing now; else none if one passes; else what the last one said (it died)
            last = failing[0][1] if failing else (None if any(t.ok for t in mine) or w is None else w.last_error)
            if w is None:
                return HealthSummary(last_error=last)
            total = WindowCounts()
            total.add(w.banked)
            for c in w.seen.values():
                total.add(c)
        ratio = min(total.errors / total.requests, 1.0) if total.requests > 0 else None
        p95 = p95_ms(total.buckets)
        return HealthSummary(last_error=last, error_ratio=ratio,
                             p95_ms=min(p95, MAX_P95_MS) if p95 is not None else None)

    # ---- the worker ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._now()
            with self._lock:
                due = [t for t in self._targets.values() if not t.busy and now >= t.due]
                for t in due:
                    t.busy = True
            for t in due:
                try:
                    self._pool.submit(self._probe, t)
                except RuntimeError:  # shutting down
                    return
            self._stop.wait(TICK)

    def _probe(self, t: _Target) -> None:
        e = t.endpoint
        spec = e.probe or SCRAPE_ONLY
        ok: bool | None = None
        error: str | None = None
        if e.probe is not None:
            ok, error = self._get(e.port, e.probe.http, e.probe.timeout_s)
        counts = None
        if t.metrics is not None and ok is not False:
            counts = self._scrape(e.port, t.metrics.url_path, spec.timeout_s)
        with self._lock:
            self.probes += 1
            t.ok, t.error, t.busy = ok, error, False
            t.due = self._now() + spec.period_s
            key = (e.workload, e.model_ref)
            w = self._windows.get(key)
            if w is None:
                if (e.workload, e.port, e.started) not in self._targets:
                    return  # the replica went away meanwhile
                w = self._windows[key] = _Window()
            if error is not None:
                w.last_error = error
            if counts is not None:
                self._count(w, (e.port, e.started), counts)

    def _count(self, w: _Window, key: tuple[int, float], counts: WindowCounts) -> None:
        old = w.seen.get(key)
        if old is not None and counts.requests < old.requests:
            w.banked.add(old)  # the counter went down: the process restarted, keep what it had counted
        w.seen[key] = counts
        while len(w.seen) > MAX_INCARNATIONS:
            first = next(iter(w.seen))
            w.banked.add(w.seen.pop(first))

    def _get(self, port: int, path: str, timeout: float) -> tuple[bool, str | None]:
        try:
            r = self._http.get(f"http://127.0.0.1:{port}{path}", timeout=timeout)
        except httpx.TimeoutException:
            return False, f"GET {path} timed out after {_fmt_s(timeout)}"
        except httpx.ConnectError:
            return False, f"GET {path}: connection refused"
        except httpx.HTTPError as exc:
            return False, f"GET {path} failed: {type(exc).__name__}: {exc}"[:300]
        if 200 <= r.status_code < 300:
            return True, None
        return False, f"GET {path} returned {r.status_code}"

    def _scrape(self, port: int, path: str, timeout: float) -> WindowCounts | None:
        try:
            r = self._http.get(f"http://127.0.0.1:{port}{path}", timeout=timeout)
            if r.status_code != 200:
                return None
            return read_metrics(r.text)
        except (httpx.HTTPError, ValueError):
            return None
