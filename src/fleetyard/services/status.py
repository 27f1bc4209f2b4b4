"""Heartbeats in, fleet status out.

An agent `PUT`s its `SiteReport` every heartbeat; the server keeps the last one per
site (one upsert, so a heartbeat costs one short transaction) and books the usage since
the previous one (issue 11, services/usage.py) in the same transaction. `fleet_status` joins
the reports with the current plan: desired replicas per site, what runs, sync
progress over the models the site must hold, and staleness (no heartbeat for three
intervals).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from pydantic import ValidationError
from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fleetyard.services.attestation import inventory_status
from fleetyard.services.availability import read_records
from fleetyard.services.db import ResourceRow, SiteReportRow
from fleetyard.services.desired import site_needs, site_specs, workload_specs
from fleetyard.services.drift import drift_text
from fleetyard.services.errors import Conflict, InvalidRequest
from fleetyard.services.planning import current_plan, current_revision, parse_plan
from fleetyard.services.schedules import current_schedule, deferred_status, parse_schedule
from fleetyard.services.usage import Lookup, book_usage, usage_pieces
from fleetyard.services.wire import FleetStatus, ModelStatus, Replicas, SiteReport, SiteStatus, Telemetry

__all__ = ["STALE_AFTER", "SiteView", "fleet_status", "record_report", "reports", "site_views"]

log = logging.getLogger("fleetyard.server")
STALE_AFTER = 3  # heartbeat intervals
ATTEMPTS = 5  # conditional upserts of one heartbeat before it gives up (409)
SYNCED = ("synced", "active")


@functools.cache
def _upsert(dialect: str) -> Insert:
    """The heartbeat's one statement, built once per dialect (SQLAlchemy then reuses its compiled form)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    t = cast(Table, SiteReportRow.__table__)
    names = ("site", "received_at", "report", "revision", "peer_url", "agent_version", "first_seen")
    stmt = insert(t).values({n: bindparam(n, type_=t.c[n].type) for n in names} | {"heartbeats": 1})
    return stmt.on_conflict_do_update(
        index_elements=[t.c.site],
        set_={"received_at": stmt.excluded.received_at, "report": stmt.excluded.report,
              "revision": stmt.excluded.revision, "peer_url": stmt.excluded.peer_url,
              "agent_version": stmt.excluded.agent_version, "heartbeats": t.c.heartbeats + 1},
        # only over the heartbeat read just before: the usage it books counts from that one
        where=t.c.received_at == bindparam("previous", type_=t.c.received_at.type),
    ).returning(t.c.site)  # a row back: stored (rowcount is not reliable for upserts on psycopg)


def record_report(session: Session, site: str, report: SiteReport, *, now: datetime | None = None,
                  interval: float = 5.0) -> None:
    """Store a heartbeat - one upsert of the site's row - and book the usage since the
    site's previous one (services/usage.py), in the caller's transaction (it commits).

    The upsert replaces only the row read just before it: two heartbeats of one site
    racing (two agents, a retry) both land, and each books its own interval once."""
    if report.site != site:
        raise InvalidRequest(f"report is for site {report.site!r} but was sent to site {site!r}")
    at = now or datetime.now(UTC)
    conn = session.connection()
    t = cast(Table, SiteReportRow.__table__)
    values = {"site": site, "received_at": at, "report": report.model_dump(mode="json"),
              "revision": report.revision, "peer_url": report.peer_url,
              "agent_version": report.agent_version[:64], "first_seen": at}
    for _ in range(ATTEMPTS):
        previous = conn.execute(select(t.c.received_at).where(t.c.site == site)).scalar()
        if conn.execute(_upsert(conn.dialect.name), {**values, "previous": previous}).first() is not None:
            break
    else:
        raise Conflict(f"heartbeats of site {site!r} keep racing each other; try again")
    book_usage(session, usage_pieces(report, previous, at, interval, _lookup(session, site, at)))


Shapes = dict[str, dict[str, tuple[str, int]]]  # site -> workload -> (SKU, GPUs per replica)
SHAPES_TTL_S = 60  # a deferred job that starts or stops is looked up with its SKU within a minute
_shapes: dict[tuple[int, int], Shapes] = {}
_shapes_lock = threading.Lock()


def _lookup(session: Session, site: str, now: datetime) -> Lookup:
    """SKU and GPUs per replica from the current plan and schedule, for reports without them.

    Every site's shapes are computed once per plan revision and minute in each process
    (the plan of a revision never changes; the schedule's running jobs change with the
    clock), not once per heartbeat: that lookup was four fifths of a heartbeat's work."""
    @functools.cache
    def shapes() -> dict[str, tuple[str, int]]:
        key = (current_revision(session), int(now.timestamp() // SHAPES_TTL_S))
        with _shapes_lock:
            every = _shapes.get(key)
        if every is None:
            every = _all_shapes(session, now)
            with _shapes_lock:
                _shapes.clear()
                _shapes[key] = every
        return every.get(site, {})

    return lambda workload: shapes().get(workload)


def _all_shapes(session: Session, now: datetime) -> Shapes:
    row = current_plan(session)
    if row is None:
        return {}
    needs = site_needs(session, parse_plan(row.plan), row.models,
                       schedule=parse_schedule(current_schedule(session)), now=now)
    return {site: {w.name: (w.gpu_sku, w.gpus_per_replica) for w in need.workloads} for site, need in needs.items()}


def reports(session: Session) -> dict[str, tuple[datetime, SiteReport]]:
    """The last report of every site that ever reported."""
    out: dict[str, tuple[datetime, SiteReport]] = {}
    for row in session.scalars(select(SiteReportRow)):
        try:
            out[row.site] = (row.received_at, SiteReport.model_validate(row.report))
        except ValidationError as exc:  # stored before the wire rules got stricter: wait for the next one
            log.warning("ignoring the stored report of site %r: %s", row.site, str(exc).splitlines()[0])
    return out


def is_stale(received: datetime | None, now: datetime, interval: float) -> bool:
    return received is None or (now - received).total_seconds() > STALE_AFTER * interval


@dataclass(frozen=True)
class SiteView:
    """One site's status, plus what metrics need (the desired refs and when they changed)."""

    status: SiteStatus
    desired_refs: tuple[str, ...]
    plan_created_at: datetime | None


def _progress(refs: tuple[str, ...], models: list[ModelStatus]) -> float | None:
    if not refs:
        return None
    by_ref = {m.ref: m for m in models}
    total = 0.0
    for ref in refs:
        m = by_ref.get(ref)
        if m is None:
            continue
        if m.state in SYNCED:
            total += 1.0
        elif m.bytes_needed:
            total += min(1.0, m.bytes_fetched / m.bytes_needed)
    return round(total / len(refs), 4)


def site_views(session: Session, interval: float, *, now: datetime | None = None,
               drift_after: float = 300.0) -> tuple[int, list[SiteView]]:
    """The revision and every site's view: sites of the fleet first, then unknown reporters;
    availability and drift as the failover job last decided them (services/failover.py)."""
    at = now or datetime.now(UTC)
    revision = current_revision(session)
    plan_row = current_plan(session)
    plan = parse_plan(plan_row.plan) if plan_row else None
    schedule = parse_schedule(current_schedule(session))
    needs = site_needs(session, plan, plan_row.models if plan_row else {}, schedule=schedule, now=at)
    names = [r for r in session.scalars(select(ResourceRow.name).where(ResourceRow.kind == "Site")
                                        .order_by(ResourceRow.id))]
    last = reports(session)
    records = read_records(session)
    specs = site_specs(session)
    names += sorted(s for s in last if s not in names)
    views: list[SiteView] = []
    for name in names:
        received, report = last.get(name, (None, None))
        rec = records.get(name)
        down = rec.availability if rec is not None and rec.availability is not None and rec.availability.down \
            else None
        need = needs.get(name)
        desired = sum(w.replicas for w in need.workloads) if need else 0
        models = report.models if report else []
        refs = tuple(need.refs) if need else ()
        running = sum(w.replicas.running for w in report.workloads) if report else 0
        healthy = sum(w.replicas.healthy for w in report.workloads) if report else 0
        status = SiteStatus(
            site=name, last_heartbeat=received, models=models,
            replicas=Replicas(desired=desired, running=running, healthy=healthy),
            bytes_fetched=sum(m.bytes_fetched for m in models), sync_progress=_progress(refs, models),
            revision=report.revision if report else None, agent_version=report.agent_version if report else None,
            stale=is_stale(received, at, interval), active=dict(report.active) if report else {},
            peer_url=report.peer_url if report else None, workloads=report.workloads if report else [],
            telemetry=report.telemetry if report else Telemetry(),
            available=down is None, unavailable_since=(down.down_since or down.since) if down else None,
            unavailable_reason=down.reason if down else None,
            drift=drift_text(rec.drift, at, drift_after) if rec is not None and down is None else None,
            inventory=inventory_status(report.inventory if report else None, specs.get(name)),
        )
        views.append(SiteView(status, refs, plan_row.created_at if plan_row else None))
    return revision, views


def fleet_status(session: Session, interval: float, *, now: datetime | None = None,
                 drift_after: float = 300.0) -> FleetStatus:
    at = now or datetime.now(UTC)
    revision, views = site_views(session, interval, now=at, drift_after=drift_after)
    deferred = {n: w for n, w in workload_specs(session).items() if w.spec.is_deferrable}
    return FleetStatus(revision=revision, sites=[v.status for v in views], heartbeat_interval_s=interval,
                       deferred=deferred_status(parse_schedule(current_schedule(session)), deferred, at))
