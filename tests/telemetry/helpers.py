"""Samples made to order, a migrated database per backend, and the raw rows read back."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select

from fleetyard.services.db import Database, migrate
from fleetyard.services.db.tables import TelemetryLayoutRow, TelemetryRow
from fleetyard.services.wire_telemetry import Sample

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a minute and hour boundary


def sample(t: datetime, i: int, workloads: tuple[str, ...] = ("chat-eu",), estimated: bool = False) -> Sample:
    """A deterministic sample: values vary with `i`, so means and last values are distinguishable."""
    values = {"gpu_power_w": 400.0 + 7 * (i % 11), "gpu_utilization": float(i % 100), "it_kw": 1.5 + (i % 5) / 4,
              "fetched_bytes/peer": 1000.0 * i, "sync_lag_s": 0.0}
    for w in workloads:
        values[f"replicas_running/{w}"] = float(2 + i % 3)
        values[f"latency_p99_s/{w}"] = 0.05 + (i % 7) / 100
    return Sample(t=t, values=values, estimated=["gpu_power_w"] if estimated else [])


def samples(start: datetime, n: int, step: float = 5.0, first: int = 0) -> list[Sample]:
    return [sample(start + timedelta(seconds=step * k), first + k) for k in range(n)]


@contextmanager
def database(backend: str, new_database: Callable[[str], str | None], tmp: Path) -> Iterator[Database]:
    """A migrated, empty database of `backend`."""
    url = new_database(backend) or f"sqlite:///{tmp / 'telemetry.db'}"
    db = Database(url)
    migrate(db.engine)
    try:
        yield db
    finally:
        db.dispose()


def rows(db: Database, site: str, resolution: int) -> list[tuple[datetime, int, dict[str, float], set[str]]]:
    """(t, count, values by key, estimated keys) of every row, oldest first."""
    with db.session() as s:
        found = s.execute(select(TelemetryRow.t, TelemetryRow.count, TelemetryRow.values, TelemetryLayoutRow.keys,
                                 TelemetryLayoutRow.estimated)
                          .join(TelemetryLayoutRow, TelemetryLayoutRow.id == TelemetryRow.layout_id)
                          .where(TelemetryRow.site == site, TelemetryRow.resolution == resolution)
                          .order_by(TelemetryRow.t)).all()
    out = []
    for t, count, blob, keys, estimated in found:
        v = np.frombuffer(blob, dtype="<f4")
        out.append((t, count, {k: float(v[i]) for i, k in enumerate(keys) if not math.isnan(v[i])}, set(estimated)))
    return out


def expected_rollup(inputs: list[tuple[datetime, int, dict[str, float], set[str]]],
                    counters: set[str]) -> tuple[int, dict[str, float]]:
    """A bucket recomputed by hand: count-weighted means for gauges, the last value for counters."""
    count = sum(c for _, c, _, _ in inputs)
    keys = {k for _, _, v, _ in inputs for k in v}
    out = {}
    for k in keys:
        present = [(c, v[k]) for _, c, v, _ in inputs if k in v]
        if k.split("/")[0] in counters:
            out[k] = present[-1][1]
        else:
            out[k] = sum(c * x for c, x in present) / sum(c for c, _ in present)
    return count, out
