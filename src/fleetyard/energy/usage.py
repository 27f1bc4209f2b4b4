"""What ran, hour by hour: `Usage` records and their columnar form, `UsageTable`.

Showback reads usage from one of two sources: the plan's assignments running every hour of
a period (`plan_usage`), or what the agents reported (the server's `usage_hours`, one record
per site, workload, SKU and UTC hour). 30 days of 100 sites is about a million records, so
the engine works on numpy columns: names are coded once (`sites`, `workloads`, `skus` list
the names; the arrays hold indexes into them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import Plan
from fleetyard.spec.trace import epoch, format_time

__all__ = ["HOUR_S", "Usage", "UsageTable", "hour_floor", "plan_usage"]

HOUR_S = 3600
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Usage:
    """One site, workload and SKU in one UTC hour: replica-hours and GPU-hours run there."""

    site: str
    workload: str
    gpu_sku: str
    hour: datetime  # UTC hour start (a naive time is read as UTC)
    replica_hours: float
    gpu_hours: float
    energy_kwh: float | None = None  # IT energy metered by the site, if any


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def hour_floor(t: datetime) -> datetime:
    """The start of the UTC hour holding `t` (naive: read as UTC)."""
    return _utc(t).replace(minute=0, second=0, microsecond=0)


def _codes(values: list[str]) -> tuple[list[str], IntArray]:
    index: dict[str, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return list(index), np.asarray(codes, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class UsageTable:
    """Usage in columns over the period [start, end) (whole UTC hours). Record i ran at
    `sites[site[i]]`, ... in the hour starting `hour_s[i]` (epoch seconds); `energy_kwh[i]`
    is NaN where the site metered nothing."""

    start: datetime
    end: datetime
    sites: list[str]
    workloads: list[str]
    skus: list[str]
    site: IntArray
    workload: IntArray
    sku: IntArray
    hour_s: IntArray
    replica_hours: FloatArray
    gpu_hours: FloatArray
    energy_kwh: FloatArray
    source: str = "recorded"  # "plan" (plan_usage) or "recorded" (what the agents reported)

    def __len__(self) -> int:
        return int(self.site.size)

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // HOUR_S)

    @property
    def hour_index(self) -> IntArray:
        """Each record's hour as an index from `start`."""
        out: IntArray = (self.hour_s - epoch(self.start)) // HOUR_S
        return out

    @classmethod
    def from_records(cls, records: Iterable[Usage], *, start: datetime | None = None,
                     end: datetime | None = None) -> UsageTable:
        """Code the records. The period is [start, end) when given (both rounded down to the
        hour; records outside it are left out), else the records' own span."""
        rows = list(records)
        cache: dict[datetime, int] = {}

        def hour_of(t: datetime) -> int:
            s = cache.get(t)
            if s is None:
                s = cache[t] = epoch(hour_floor(t))
            return s

        hours = np.asarray([hour_of(r.hour) for r in rows], dtype=np.int64)
        sites, site = _codes([r.site for r in rows])
        workloads, workload = _codes([r.workload for r in rows])
        skus, sku = _codes([r.gpu_sku for r in rows])
        table = cls(
            start=_default_start(hours, start), end=_default_end(hours, end),
            sites=sites, workloads=workloads, skus=skus, site=site, workload=workload, sku=sku,
            hour_s=hours,
            replica_hours=np.asarray([r.replica_hours for r in rows], dtype=np.float64),
            gpu_hours=np.asarray([r.gpu_hours for r in rows], dtype=np.float64),
            energy_kwh=np.asarray([np.nan if r.energy_kwh is None else r.energy_kwh for r in rows],
                                  dtype=np.float64),
        )
        return table.within()

    def within(self) -> UsageTable:
        """The table without the records outside [start, end)."""
        keep = (self.hour_s >= epoch(self.start)) & (self.hour_s < epoch(self.end))
        if bool(keep.all()):
            return self
        return UsageTable(self.start, self.end, self.sites, self.workloads, self.skus,
                          self.site[keep], self.workload[keep], self.sku[keep], self.hour_s[keep],
                          self.replica_hours[keep], self.gpu_hours[keep], self.energy_kwh[keep],
                          self.source)


def _default_start(hours: IntArray, start: datetime | None) -> datetime:
    if start is not None:
        return hour_floor(start)
    return datetime.fromtimestamp(int(hours.min()), tz=UTC) if hours.size else datetime.fromtimestamp(0, tz=UTC)


def _default_end(hours: IntArray, end: datetime | None) -> datetime:
    if end is not None:
        return hour_floor(end)
    return (datetime.fromtimestamp(int(hours.max()) + HOUR_S, tz=UTC) if hours.size
            else datetime.fromtimestamp(0, tz=UTC))


def plan_usage(fleet: Fleet, plan: Plan, start: datetime, end: datetime) -> UsageTable:
    """The plan's assignments running every hour of [start, end) (rounded down to whole hours):
    each assignment's replicas for a whole hour, GPUs x replicas GPU-hours, no metered energy."""
    t0, t1 = hour_floor(start), hour_floor(end)
    if t1 < t0:
        raise ValueError(f"period ends ({format_time(t1)}) before it starts ({format_time(t0)})")
    n_hours = int((t1 - t0).total_seconds() // HOUR_S)
    rows = [a for a in plan.assignments if a.replicas > 0]
    sites, site = _codes([a.site for a in rows])
    workloads, workload = _codes([a.workload for a in rows])
    skus, sku = _codes([a.gpu_sku for a in rows])
    replicas = np.asarray([float(a.replicas) for a in rows], dtype=np.float64)
    gpus = np.asarray([float(a.replicas * fleet.workloads[a.workload].spec.replica.gpus)
                       if a.workload in fleet.workloads else 0.0 for a in rows], dtype=np.float64)
    hour_s = epoch(t0) + HOUR_S * np.arange(n_hours, dtype=np.int64)
    n = len(rows)
    return UsageTable(
        start=t0, end=t0 + timedelta(hours=n_hours), sites=sites, workloads=workloads, skus=skus,
        site=np.tile(site, n_hours), workload=np.tile(workload, n_hours), sku=np.tile(sku, n_hours),
        hour_s=np.repeat(hour_s, n), replica_hours=np.tile(replicas, n_hours),
        gpu_hours=np.tile(gpus, n_hours), energy_kwh=np.full(n * n_hours, np.nan), source="plan",
    )
