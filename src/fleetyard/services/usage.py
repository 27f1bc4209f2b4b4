"""What ran, hour by hour (issue 11, showback): usage booked from the sites' heartbeats.

Each heartbeat books the time since the site's previous one, as the report saw it:

    seconds   = min(now - previous heartbeat, USAGE_CAP_INTERVALS x heartbeat interval)
    replica-s = seconds x the replicas the report says are running, per workload
    GPU-s     = replica-s x GPUs per replica
    energy    = IT energy: the report's metered GPU power (telemetry.gpu_power_w, all
                GPUs of the site) x seconds x SERVER_POWER_FACTOR (1.8, spec/catalog.py:
                the planner's own ratio of a server's power to its GPUs'), shared among
                the workloads by their GPU-seconds; NULL when the site does not meter
                (no nvidia-smi), never a guess

split at UTC hour boundaries into `usage_hours` rows (site, workload, SKU, hour), added
to what the hour holds (an upsert, in the heartbeat's transaction). The cap keeps an
outage from being billed as running: a site silent for an hour books at most three
heartbeat intervals when it comes back (the interval `status` calls stale). The first
heartbeat of a site books nothing: there is no previous one to count from. Energy is IT
energy (before PUE), as showback prices it (energy/pricing.py): the GPUs are metered, the
rest of the server is the planner's factor, so a workload whose GPUs draw their TDP books
the plan's kWh; idle GPUs' power while no workload runs is booked to nobody. The SKU and
GPUs per replica are the ones the agent reports it was told (`WorkloadStatus.gpu_sku`,
`gpus_per_replica`); for an agent that does not send them, the current plan's (or
schedule's) assignment at the site.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Insert, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fleetyard.services.db import UsageHourRow
from fleetyard.services.wire import SiteReport, UsageOut
from fleetyard.spec.catalog import SERVER_POWER_FACTOR

__all__ = ["USAGE_CAP_INTERVALS", "UsagePiece", "book_usage", "booked_seconds", "hour_pieces", "list_usage",
           "usage_pieces"]

USAGE_CAP_INTERVALS = 3  # heartbeat intervals booked at most per heartbeat (as status's staleness)
MAX_LIMIT = 10_000
HOUR = timedelta(hours=1)

Lookup = Callable[[str], tuple[str, int] | None]
"""workload -> (GPU SKU, GPUs per replica) at this site, for reports that do not say."""


@dataclass(frozen=True)
class UsagePiece:
    """Usage of one workload at one site within one UTC hour."""

    site: str
    workload: str
    gpu_sku: str
    hour: datetime
    replica_seconds: float
    gpu_seconds: float
    energy_kwh: float | None


def booked_seconds(previous: datetime | None, now: datetime, interval: float) -> float:
    """The seconds a heartbeat at `now` books (see the module docstring)."""
    if previous is None:
        return 0.0
    return max(0.0, min((now - previous).total_seconds(), USAGE_CAP_INTERVALS * interval))


def hour_pieces(start: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
    """[start, end) split at UTC hour boundaries: (hour start, seconds in it)."""
    t = start
    while t < end:
        hour = t.replace(minute=0, second=0, microsecond=0)
        stop = min(end, hour + HOUR)
        yield hour, (stop - t).total_seconds()
        t = stop


def usage_pieces(report: SiteReport, previous: datetime | None, now: datetime, interval: float,
                 lookup: Lookup | None = None) -> list[UsagePiece]:
    """What the heartbeat `report` at `now` books, the site's previous one at `previous`."""
    seconds = booked_seconds(previous, now, interval)
    running = [w for w in report.workloads if w.replicas.running > 0]
    if seconds <= 0 or not running:
        return []
    shapes: list[tuple[str, str, int, int]] = []  # workload, SKU, replicas, GPUs per replica
    for w in running:
        found = lookup(w.name) if lookup is not None and (w.gpu_sku is None or w.gpus_per_replica is None) else None
        sku = w.gpu_sku or (found[0] if found else "unknown")
        gpus = w.gpus_per_replica if w.gpus_per_replica is not None else (found[1] if found else 0)
        shapes.append((w.name, sku, w.replicas.running, gpus))
    total_gpus = sum(r * g for _n, _s, r, g in shapes)
    total_replicas = sum(r for _n, _s, r, _g in shapes)
    metered = report.telemetry.gpu_power_w
    power_kw = metered * SERVER_POWER_FACTOR / 1000.0 if metered is not None else None
    out: list[UsagePiece] = []
    for hour, s in hour_pieces(now - timedelta(seconds=seconds), now):
        for name, sku, replicas, gpus in shapes:
            share = replicas * gpus / total_gpus if total_gpus else replicas / total_replicas
            energy = power_kw * s / 3600.0 * share if power_kw is not None else None
            out.append(UsagePiece(report.site, name[:63], sku[:63], hour, replicas * s, replicas * gpus * s, energy))
    return out


@functools.cache
def _upsert(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    t = cast(Table, UsageHourRow.__table__)
    names = ("site", "workload", "gpu_sku", "hour", "replica_seconds", "gpu_seconds", "energy_kwh")
    stmt = insert(t).values({n: bindparam(n, type_=t.c[n].type) for n in names})
    new_energy = stmt.excluded.energy_kwh
    return stmt.on_conflict_do_update(
        index_elements=[t.c.site, t.c.workload, t.c.gpu_sku, t.c.hour],
        set_={"replica_seconds": t.c.replica_seconds + stmt.excluded.replica_seconds,
              "gpu_seconds": t.c.gpu_seconds + stmt.excluded.gpu_seconds,
              # metered energy adds up; an unmetered heartbeat leaves the hour's figure as it was
              "energy_kwh": func.coalesce(t.c.energy_kwh + new_energy, new_energy, t.c.energy_kwh)},
    )


def book_usage(session: Session, pieces: list[UsagePiece]) -> None:
    """Add `pieces` to `usage_hours` in the caller's transaction."""
    if not pieces:
        return
    conn = session.connection()
    conn.execute(_upsert(conn.dialect.name), [
        {"site": p.site, "workload": p.workload, "gpu_sku": p.gpu_sku, "hour": p.hour,
         "replica_seconds": p.replica_seconds, "gpu_seconds": p.gpu_seconds, "energy_kwh": p.energy_kwh}
        for p in pieces])


def list_usage(session: Session, since: datetime, until: datetime, *, limit: int = 1000,
               offset: int = 0) -> list[UsageOut]:
    """Usage rows with `since <= hour < until`, by hour, site, workload and SKU."""
    rows = session.scalars(select(UsageHourRow).where(UsageHourRow.hour >= since, UsageHourRow.hour < until)
                           .order_by(UsageHourRow.hour, UsageHourRow.site, UsageHourRow.workload,
                                     UsageHourRow.gpu_sku).offset(offset).limit(limit))
    return [UsageOut(site=r.site, workload=r.workload, gpu_sku=r.gpu_sku, hour=r.hour,
                     replica_seconds=r.replica_seconds, gpu_seconds=r.gpu_seconds, energy_kwh=r.energy_kwh)
            for r in rows]
