"""`GET /api/v1/cost`: showback over what actually ran (issue 11).

The stored fleet (with its stored traces) prices the `usage_hours` the heartbeats booked
(services/usage.py), hour by hour, with `fleetyard.energy.allocation.allocate` - the same
engine and formulas as `fleetyard cost DIR` (docs/cost.md), with source "recorded".

    period = [start, start + period), whole UTC hours; without `start`, the `period`
             that ends with the current hour (the hour now is in counts, as far as booked)

A bad `by` or `period` is a 422 naming what is accepted; a trace that does not cover the
period is a 422 naming the site, the trace and the missing interval (or `extend`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.energy.allocation import allocate, check_by, parse_period
from fleetyard.energy.timeline import Extend, TraceGap
from fleetyard.energy.usage import Usage, UsageTable, hour_floor
from fleetyard.services.db import ResourceRow, UsageHourRow
from fleetyard.services.errors import InvalidRequest, SpecInvalid
from fleetyard.services.fleet_cache import cached_fleet
from fleetyard.services.resources import STORED_PREFIX, stored_sources
from fleetyard.services.traces import stored_trace_texts, trace_reader
from fleetyard.spec import Problem, SpecError, load_fleet_sources
from fleetyard.spec.allocation import Allocation
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.trace import format_time, parse_time

__all__ = ["cost_allocation", "recorded_usage", "stored_fleet"]

HOUR_S = 3600.0


def stored_fleet(session: Session) -> Fleet:
    """The fleet as stored, with its stored traces (SpecInvalid if it no longer loads);
    loaded once per change of the stored documents (services/fleet_cache.py)."""
    return cached_fleet(session, lambda: _load_stored_fleet(session))


def _load_stored_fleet(session: Session) -> Fleet:
    rows = list(session.scalars(select(ResourceRow).order_by(ResourceRow.id)))
    try:
        return load_fleet_sources(stored_sources(rows), traces=trace_reader({}, stored_trace_texts(session))).fleet
    except SpecError as exc:
        raise SpecInvalid(exc.problems, "nothing was allocated") from None


def recorded_usage(session: Session, start: datetime, end: datetime) -> list[Usage]:
    """The booked usage rows with start <= hour < end, as the allocation engine reads them."""
    t = UsageHourRow
    rows = session.execute(select(t.site, t.workload, t.gpu_sku, t.hour, t.replica_seconds, t.gpu_seconds,
                                  t.energy_kwh).where(t.hour >= start, t.hour < end))
    return [Usage(site, workload, sku, hour, replica_s / HOUR_S, gpu_s / HOUR_S, energy)
            for site, workload, sku, hour, replica_s, gpu_s, energy in rows]


def _period(period: str, start: str | None, now: datetime) -> tuple[datetime, datetime]:
    length = parse_period(period)
    if isinstance(length, str):
        raise InvalidRequest(f"query parameter 'period': {length}")
    if start is None:
        end = hour_floor(now) + timedelta(hours=1)
        return end - length, end
    t = parse_time(start)
    if isinstance(t, str):
        raise InvalidRequest(f"query parameter 'start': {t}")
    first = hour_floor(t)
    try:
        return first, first + length
    except OverflowError:
        raise InvalidRequest(f"query parameter 'start': {start} plus {period} is past the year 9999") from None


def cost_allocation(session: Session, by: str, period: str = "30d", start: str | None = None, *,
                    extend: Extend = "none", now: datetime | None = None) -> Allocation:
    """Who spent what over the period, from the usage the sites reported (see the module docstring)."""
    why = check_by(by)
    if why is not None:
        raise InvalidRequest(f"query parameter 'by': {why}")
    first, end = _period(period, start, now or datetime.now(UTC))
    fleet = stored_fleet(session)
    table = UsageTable.from_records(recorded_usage(session, first, end), start=first, end=end)
    try:
        return allocate(fleet, table, by, extend=extend)
    except TraceGap as gap:
        origin = fleet.origin("Site", gap.site)
        raise SpecInvalid([Problem(
            origin.file.removeprefix(STORED_PREFIX) if origin else gap.site,
            origin.line_of(("spec", "energy", "trace")) if origin else None, "spec.energy.trace",
            f"site {gap.site}: trace {gap.trace} does not cover {format_time(gap.start)} to "
            f"{format_time(gap.end)}, which the allocation from {format_time(first)} to {format_time(end)} "
            "prices; upload a trace that covers it, or ask with extend=repeat-daily")],
            "nothing was allocated") from None

