"""The deferred-work schedule of each plan revision (issue 11), and what it means right now.

Every plan revision the server writes (apply, delete, failover re-plan) gets a schedule in
the same transaction: `fleetyard.energy.schedule.schedule_fleet` on the fleet and its plan,
from the server's now floored to the slot (`FLEETYARD_SCHEDULE_SLOT_S`, default 3600 s), over
a horizon up to the latest deadline of the jobs still to run, at most `MAX_HORIZON_H`
(14 days: a job due later is scheduled inside the first 14 days or listed unscheduled
with the scheduler's reason). Three kinds of job are not handed to the scheduler:

- a job whose deadline has passed is listed unscheduled, with that reason;
- a job that started under the previous schedule (its first slot began before now) and
  whose Workload did not change keeps its slots: a re-plan never stops a job mid-run
  to start it again elsewhere (its capacity is not subtracted from what the others are
  given - docs/energy-server.md says so);
- nothing is scheduled when no job is left: the schedule is then empty, not absent.

A trace that does not cover the horizon is a 422 naming the site, its trace and the
missing interval (the Site's file and line), and nothing is stored - unless the server
runs with `FLEETYARD_SCHEDULE_EXTEND=repeat-daily`, which repeats the trace's days.

The desired state of a site (services/desired.py) holds a deferred job only while now
is inside one of its slots at that site (`active_jobs`), so an agent starts it when its
slot begins and stops it when the slot ends.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.energy.schedule import schedule_fleet
from fleetyard.energy.timeline import Extend, check_coverage
from fleetyard.services.db import ScheduleRow
from fleetyard.services.errors import NotFound, SpecInvalid
from fleetyard.services.planning import current_revision
from fleetyard.services.resources import STORED_PREFIX
from fleetyard.services.wire import DeferredState, DeferredStatus, ScheduleOut
from fleetyard.spec import Problem
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import Plan
from fleetyard.spec.timeplan import Baseline, Schedule, ScheduledJob, ScheduleTotals, Unscheduled
from fleetyard.spec.trace import format_time, parse_time

__all__ = ["MAX_HORIZON_H", "ScheduleSettings", "active_jobs", "current_schedule", "deferred_status",
           "make_schedule", "schedule_out", "upcoming_jobs"]

MAX_HORIZON_H = 14 * 24.0
Objective = Literal["cost", "carbon"]


@dataclass(frozen=True)
class ScheduleSettings:
    """How the server schedules deferred work (server settings FLEETYARD_SCHEDULE_*)."""

    slot_s: float = 3600.0
    objective: Objective = "cost"
    extend: Extend = "none"
    max_horizon_h: float = MAX_HORIZON_H


def _t(text: str) -> datetime:
    t = parse_time(text)
    if isinstance(t, str):
        raise ValueError(t)
    return t


def slot_floor(now: datetime, slot_s: float) -> datetime:
    """`now` floored to a multiple of the slot length since the epoch (whole seconds)."""
    s = math.floor(now.timestamp() / slot_s) * slot_s
    return datetime.fromtimestamp(math.floor(s), tz=UTC)


def _empty_totals() -> ScheduleTotals:
    return ScheduleTotals(jobs=0, kwh=0.0, carbon_kg=0.0, cost=0.0)


def _plus(totals: ScheduleTotals, jobs: Collection[ScheduledJob]) -> ScheduleTotals:
    if not jobs:
        return totals
    return totals.model_copy(update={
        "jobs": totals.jobs + len(jobs), "kwh": totals.kwh + sum(j.kwh for j in jobs),
        "carbon_kg": totals.carbon_kg + sum(j.carbon_kg for j in jobs),
        "cost": totals.cost + sum(j.cost for j in jobs)})


def started(job: ScheduledJob, now: datetime) -> bool:
    return bool(job.slots) and _t(job.slots[0].start) <= now


def make_schedule(fleet: Fleet, plan: Plan, now: datetime, settings: ScheduleSettings, *,
                  previous: Schedule | None = None, edited: Collection[str] = (),
                  what: str = "nothing was applied") -> Schedule:
    """The schedule of `fleet`'s deferred work on the capacity `plan` leaves, from `now`
    (see the module docstring); SpecInvalid when a trace does not cover the horizon."""
    start = slot_floor(now, settings.slot_s)
    kept = {j.workload: j for j in (previous.jobs if previous else ())
            if started(j, now) and j.workload not in edited and j.workload in fleet.workloads}
    passed: list[Unscheduled] = []
    todo = []
    for w in fleet.deferred():
        if w.name in kept:
            continue
        assert w.spec.schedule is not None
        if w.spec.schedule.deadline <= now:
            passed.append(Unscheduled(workload=w.name, reasons=[
                f"deadline {format_time(w.spec.schedule.deadline)} has passed (the server's time is "
                f"{format_time(now)}): nothing was scheduled"]))
        else:
            todo.append(w)
    notes = [f"{len(kept)} job(s) kept the slots they started in: {', '.join(sorted(kept))}"] if kept else []
    if not todo:
        return Schedule(jobs=list(kept.values()), totals=_plus(_empty_totals(), list(kept.values())),
                        baseline=Baseline(jobs=[], totals=_empty_totals()), unscheduled=passed,
                        objective=settings.objective, start=format_time(start), end=format_time(start),
                        slot_h=settings.slot_s / 3600.0, notes=notes)
    latest = max(w.spec.schedule.deadline for w in todo if w.spec.schedule is not None)
    end = min(latest, start + timedelta(hours=settings.max_horizon_h))
    slots = max(1, math.ceil((end - start).total_seconds() / settings.slot_s))
    horizon_h = slots * settings.slot_s / 3600.0
    if settings.extend == "none":
        _check_traces(fleet, start, start + timedelta(hours=horizon_h), what)
    names = {w.name for w in todo}
    subset = replace(fleet, workloads={n: w for n, w in fleet.workloads.items()
                                       if not w.spec.is_deferrable or n in names})
    made: Schedule = schedule_fleet(subset, plan, start, horizon_h, objective=settings.objective,
                                    extend=settings.extend, slot_h=settings.slot_s / 3600.0)
    return made.model_copy(update={
        "jobs": list(kept.values()) + list(made.jobs), "totals": _plus(made.totals, list(kept.values())),
        "unscheduled": list(made.unscheduled) + passed, "notes": list(made.notes) + notes})


def _check_traces(fleet: Fleet, start: datetime, end: datetime, what: str) -> None:
    problems = []
    for gap in check_coverage(fleet, start, end):
        origin = fleet.origin("Site", gap.site)
        loc = ("spec", "energy", "trace")
        problems.append(Problem(
            origin.file.removeprefix(STORED_PREFIX) if origin else gap.site, origin.line_of(loc) if origin else None,
            "spec.energy.trace",
            f"site {gap.site}: trace {gap.trace} does not cover {format_time(gap.start)} to {format_time(gap.end)}, "
            f"which the schedule of deferred work needs (from {format_time(start)} to {format_time(end)}); "
            "upload a trace that covers it, or run the server with FLEETYARD_SCHEDULE_EXTEND=repeat-daily"))
    if problems:
        raise SpecInvalid(problems, what)


# ---- reading -----------------------------------------------------------------------------

def current_schedule(session: Session) -> ScheduleRow | None:
    """The schedule of the current plan revision (None before the first apply)."""
    revision = current_revision(session)
    if revision == 0:
        return None
    return session.scalar(select(ScheduleRow).where(ScheduleRow.revision == revision))


def parse_schedule(row: ScheduleRow | None) -> Schedule | None:
    return Schedule.model_validate(row.document) if row is not None else None


def schedule_out(session: Session) -> ScheduleOut:
    row = current_schedule(session)
    if row is None:
        raise NotFound("no schedule yet: apply a fleet first (fleetyard apply -f DIR)")
    return ScheduleOut(**row.document, revision=row.revision, created_at=row.created_at)


def active_jobs(schedule: Schedule | None, now: datetime) -> list[ScheduledJob]:
    """The jobs inside one of their slots at `now` (a slot is [start, end))."""
    if schedule is None:
        return []
    return [j for j in schedule.jobs if any(_t(s.start) <= now < _t(s.end) for s in j.slots)]


def upcoming_jobs(schedule: Schedule | None, now: datetime) -> list[ScheduledJob]:
    """The jobs with a slot that starts after `now`."""
    if schedule is None:
        return []
    return [j for j in schedule.jobs if any(_t(s.start) > now for s in j.slots)]


def deferred_status(schedule: Schedule | None, deferred: Mapping[str, object], now: datetime) -> list[DeferredStatus]:
    """Every deferred job of the fleet: running now, waiting for its next slot, done, or
    unscheduled with the reason (`deferred`: the fleet's deferred workloads by name)."""
    if schedule is None:
        return []
    out: list[DeferredStatus] = []
    listed = set()
    for j in schedule.jobs:
        listed.add(j.workload)
        spans = [(_t(s.start), _t(s.end)) for s in j.slots]
        current = next(((a, b) for a, b in spans if a <= now < b), None)
        upcoming = next(((a, b) for a, b in spans if a > now), None)
        slot = current or upcoming
        state: DeferredState = "running" if current else ("waiting" if upcoming else "done")
        out.append(DeferredStatus(workload=j.workload, state=state, site=j.site, gpu_sku=j.gpu_sku,
                                  replicas=j.replicas, next_start=slot[0] if slot else None,
                                  next_end=slot[1] if slot else None))
    for u in schedule.unscheduled:
        listed.add(u.workload)
        out.append(DeferredStatus(workload=u.workload, state="unscheduled", reason="; ".join(u.reasons)))
    for name in deferred:
        if name not in listed:
            out.append(DeferredStatus(workload=name, state="unscheduled",
                                      reason="not in the schedule of this revision"))
    return sorted(out, key=lambda d: d.workload)
