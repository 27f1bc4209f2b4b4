"""Prometheus metrics of one server (a registry per app, never the global one).

Counters are kept in the process (`fleetyard_heartbeats_total{site}`, `fleetyard_server_leader`,
`fleetyard_apply_total{result}`, `fleetyard_registry_bytes_served_total{kind}`); gauges are read from the
database at scrape time, so several server processes agree on them:
`fleetyard_sites`, `fleetyard_site_last_heartbeat_timestamp_seconds{site}`,
`fleetyard_plan_revision`, `fleetyard_site_sync_lag_seconds{site}` and
`fleetyard_replicas{site,state}` (state: desired, running, healthy), and (issue 14,
docs/attestation.md) `fleetyard_site_gpus_declared{site,gpu}`,
`fleetyard_site_gpus_discovered{site,gpu}` and `fleetyard_site_inventory_drift{site}`.

Sync lag is the time since the current plan revision was made, for a site that
does not yet run every model version it must hold (0 once it does).

Fleet-wide telemetry (issue 12): each series of `wire_telemetry.SERIES` from every
site's newest sample, `fleetyard_site_<series>{site[,workload|source]}` (a counter
gets `_total`), plus `fleetyard_site_sample_timestamp_seconds{site}` - so one
Prometheus target scrapes the whole fleet. A site without a sample for
`TELEMETRY_STALE` heartbeat intervals drops out. The values are read with one query
and cached for a heartbeat interval, so scrapes cost at most one query per interval.

HTTP requests (issue 13) are measured by starlette-exporter's middleware, a maintained
instrumentation library: `fleetyard_http_requests_total{method,path,status_code,app_name}`
and the latency histogram `fleetyard_http_request_duration_seconds{...}` (buckets
`LATENCY_BUCKETS`), labelled by the route template (`/api/v1/resources/{kind}/{name}`,
never the raw path; unmatched paths share `__unknown__`), so the label set stays bounded
whatever clients send. The library keeps its metrics in prometheus_client's process-wide
registry; `exposition` renders it after the app's own registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette_exporter import PrometheusMiddleware

from fleetyard.services.db import Database
from fleetyard.services.desired import site_specs
from fleetyard.services.status import site_views
from fleetyard.services.telemetry.query import Latest, latest
from fleetyard.services.wire_telemetry import SERIES, split_key
from fleetyard.spec.inventory import declared_counts

__all__ = ["LATENCY_BUCKETS", "Metrics", "TelemetryCollector", "exposition", "install_request_metrics"]

# An API answers in milliseconds; applies and plans take seconds; 10 s is already an outage.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FleetCollector(Collector):
    """Gauges computed from the database on every scrape."""

    def __init__(self, db: Database, interval: float) -> None:
        self.db, self.interval = db, interval

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with self.db.session() as s:
            revision, views = site_views(s, self.interval, now=now)
            specs = site_specs(s)
        sites = GaugeMetricFamily("fleetyard_sites", "Sites in the fleet or reporting.")
        sites.add_metric([], len(views))
        rev = GaugeMetricFamily("fleetyard_plan_revision", "The current plan revision.")
        rev.add_metric([], revision)
        last = GaugeMetricFamily("fleetyard_site_last_heartbeat_timestamp_seconds",
                                 "Unix time of the site's last heartbeat.", labels=["site"])
        lag = GaugeMetricFamily("fleetyard_site_sync_lag_seconds",
                                "Seconds since the plan changed while the site does not run all it must.",
                                labels=["site"])
        replicas = GaugeMetricFamily("fleetyard_replicas", "Replicas per site by state.", labels=["site", "state"])
        available = GaugeMetricFamily("fleetyard_site_available", "1 if the site is available, 0 while its work is "
                                      "elsewhere (failover: unavailable or within the hold-off).", labels=["site"])
        # issue 14 (docs/attestation.md): declared GPUs, and found ones for sites whose agent reported them
        declared = GaugeMetricFamily("fleetyard_site_gpus_declared", "GPUs the Site declares, by SKU.",
                                     labels=["site", "gpu"])
        found = GaugeMetricFamily("fleetyard_site_gpus_discovered", "GPUs the site's agent found, by SKU "
                                  "(or product name when no SKU matches).", labels=["site", "gpu"])
        hw_drift = GaugeMetricFamily("fleetyard_site_inventory_drift", "1 if the GPUs found differ from the "
                                     "declared ones, 0 if they match (absent: no inventory, or its probe failed).",
                                     labels=["site"])
        for v in views:
            st = v.status
            inv = st.inventory
            spec = specs.get(st.site)
            for sku, n in (declared_counts(spec) if spec else {}).items():
                declared.add_metric([st.site, sku], n)
            if inv is not None and inv.error is None:
                for sku, n in sorted({**{k: 0 for k in inv.declared}, **inv.found}.items()):
                    found.add_metric([st.site, sku], n)
                hw_drift.add_metric([st.site], 1.0 if inv.drift else 0.0)
            available.add_metric([st.site], 1.0 if st.available else 0.0)
            if st.last_heartbeat is not None:
                last.add_metric([st.site], st.last_heartbeat.timestamp())
            behind = any(st.active.get(ref.split(":", 1)[0]) != ref for ref in v.desired_refs)
            since = (now - v.plan_created_at).total_seconds() if behind and v.plan_created_at else 0.0
            lag.add_metric([st.site], max(0.0, since))
            for state in ("desired", "running", "healthy"):
                replicas.add_metric([st.site, state], getattr(st.replicas, state))
        yield from (sites, rev, last, lag, replicas, available, declared, found, hw_drift)


TELEMETRY_STALE = 12  # heartbeat intervals


class TelemetryCollector(Collector):
    """Every site's newest sample as site-labelled series, cached for `interval` seconds."""

    def __init__(self, db: Database, interval: float) -> None:
        self.db, self.interval = db, interval
        self._cache: tuple[float, dict[str, Latest]] | None = None
        self._lock = threading.Lock()

    def _latest(self) -> dict[str, Latest]:
        with self._lock:
            now = time.monotonic()
            if self._cache is None or now - self._cache[0] >= self.interval:
                since = datetime.now(UTC) - timedelta(seconds=TELEMETRY_STALE * self.interval)
                with self.db.session() as s:
                    self._cache = (now, latest(s, since=since))
            return self._cache[1]

    def collect(self) -> Iterator[Metric]:
        newest = self._latest()
        stamp = GaugeMetricFamily("fleetyard_site_sample_timestamp_seconds",
                                  "Unix time of the site's newest telemetry sample.", labels=["site"])
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for name, info in SERIES.items():
            labels = ["site", info.label] if info.label else ["site"]
            text = f"{info.help} ({info.unit})" if info.unit else info.help
            cls = CounterMetricFamily if info.kind == "counter" else GaugeMetricFamily
            families[name] = cls(f"fleetyard_site_{name}", text, labels=labels)
        for site, sample in sorted(newest.items()):
            stamp.add_metric([site], sample.t.timestamp())
            for key, value in sorted(sample.values.items()):
                name, label = split_key(key)
                family = families.get(name)
                if family is not None and bool(label) == bool(SERIES[name].label):
                    family.add_metric([site, label] if label else [site], value)
        yield stamp
        yield from families.values()


class Metrics:
    """The app's registry and its counters."""

    def __init__(self, db: Database, interval: float) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.heartbeats = Counter("fleetyard_heartbeats", "Heartbeats received.", ["site"], registry=self.registry)
        self.applies = Counter("fleetyard_apply", "Apply and delete requests by result.", ["result"],
                               registry=self.registry)
        self.bytes_served = Counter("fleetyard_registry_bytes_served", "Registry bytes sent, by object kind.",
                                    ["kind"], registry=self.registry)
        self.leader = Gauge("fleetyard_server_leader", "1 while this server process runs the background jobs "
                            "(the leader lock, docs/scale-out.md), else 0.", registry=self.registry)
        self.registry.register(FleetCollector(db, interval))
        self.registry.register(TelemetryCollector(db, interval))


def install_request_metrics(app: Starlette) -> None:
    """Request counts and latency by route template (starlette-exporter; docs/prometheus.md)."""
    app.add_middleware(PrometheusMiddleware, app_name="fleetyard", prefix="fleetyard_http", group_paths=True,
                       group_unhandled_paths=True, filter_unhandled_paths=False, buckets=LATENCY_BUCKETS)


def exposition(metrics: Metrics) -> bytes:
    """The text a scrape gets: the app's own registry, then the request metrics (process-wide)."""
    return generate_latest(metrics.registry) + generate_latest(REGISTRY)
