"""`schedule_fleet`: where and when each deferrable job runs, in time slots (issue 11).

    schedule = schedule_fleet(fleet, plan, start, 72.0, objective="carbon")

The slot model: a job picks one option (pool) and the slots it runs in, inside its
window clipped to the horizon; in every slot the jobs running on a pool and at a site
stay within what the always-on `plan` leaves (GPUs, power, cooling). `cost` minimises
money (rent + energy x PUE + carbon price x intensity + egress); `carbon` minimises kg
CO2, then money (`jobs.CARBON_COST_WEIGHT`).

How it scales (docs/scheduling.md):
1. Each job alone: its `k` best patterns and its own optimum (`patterns`). The sum of
   the optima is a lower bound on any schedule: the proven `bound`.
2. The run-now baseline and a greedy schedule (`baseline`); their patterns join the
   candidates.
3. The restricted MILP over the candidates (`milp`), only with capacity rows that can
   bind, warm-started from the better of the two, under a node limit. If no row can
   bind, each job's own optimum is the optimum and no solver runs.
4. Never worse than the run-now baseline: the better of the MILP's answer and its start.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

import numpy as np

from fleetyard.energy.baseline import NO_ROOM_IN_WINDOW, greedy, run_now
from fleetyard.energy.jobs import Job, Prices, build_jobs, slot_prices
from fleetyard.energy.milp import binding_rows, solve_patterns
from fleetyard.energy.patterns import Candidate, best_patterns
from fleetyard.energy.report import penalized, savings, scheduled_job, totals, within_capacity
from fleetyard.energy.slots import SlotGrid, Usage, headroom_of
from fleetyard.energy.timeline import Extend, check_coverage
from fleetyard.placement.context import Compiled, compile_fleet
from fleetyard.placement.costmodel import CostModel
from fleetyard.placement.framework import Context
from fleetyard.placement.milp import WorkLimits, relative_gap
from fleetyard.placement.runner import Runner
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.models import Workload
from fleetyard.spec.plan import Plan
from fleetyard.spec.timeplan import Baseline, Schedule, ScheduleBound, ScheduledJob, Unscheduled
from fleetyard.spec.trace import format_time

__all__ = ["DEFAULT_CANDIDATES", "DEFAULT_LIMITS", "Objective", "schedule_fleet"]

Objective = Literal["cost", "carbon"]
DEFAULT_CANDIDATES = 6
"""Candidate patterns per job in the restricted MILP (plus the baseline's and greedy's)."""
DEFAULT_LIMITS = WorkLimits(max_nodes=200)
SAFETY_TIME_LIMIT_S = 120.0


def _penalty(cands: list[list[Candidate]], jobs: list[Job]) -> np.ndarray:
    """What leaving a job out costs the MILP: more than all jobs' dearest candidates together,
    scaled by priority (1 + priority/100), so that no saving ever pays for leaving out
    (priority-weighted) more work than the run-now baseline does."""
    unit = sum(max((c.value for c in cs), default=0.0) for cs in cands) + 1.0
    return np.array([unit * (1.0 + max(j.priority, 0) / 100.0) for j in jobs])


def _merge(cands: list[Candidate], extra: Candidate | None) -> None:
    if extra is not None and all(c.key != extra.key for c in cands):
        cands.append(extra)


def schedule_fleet(fleet: Fleet, plan: Plan, start: datetime, horizon_h: float, *,
                   objective: Objective = "cost", extend: Extend = "none", slot_h: float = 1.0,
                   candidates: int = DEFAULT_CANDIDATES, limits: WorkLimits = DEFAULT_LIMITS) -> Schedule:
    """Schedule `fleet`'s deferrable workloads on the capacity `plan` leaves.

    Raises `TraceGap` when a site's trace does not cover [start, start + horizon) and
    `extend` is "none"; `ValueError` for a horizon that is not whole slots."""
    t0 = time.perf_counter()
    grid = SlotGrid.of(start, horizon_h, slot_h)
    if extend == "none":
        gaps = check_coverage(fleet, grid.start, grid.end)
        if gaps:
            raise gaps[0]
    compiled = compile_fleet(fleet)
    ctx = Context(compiled, CostModel(compiled), compiled.full_ledger())
    prices = slot_prices(compiled, grid, extend)
    headroom = headroom_of(compiled, plan)
    deferred = fleet.deferred()
    jobs, reasons = build_jobs(ctx, Runner(), headroom, grid, deferred)

    best = [best_patterns(i, job, job.objective(prices, objective), candidates) for i, job in enumerate(jobs)]
    cands = [list(b.candidates) for b in best]
    tb = time.perf_counter()
    base, base_left = run_now(jobs, prices, Usage(headroom, grid.n, compiled.pool_site), objective)
    baseline_seconds = time.perf_counter() - tb
    greedy_pick, _ = greedy(jobs, prices, Usage(headroom, grid.n, compiled.pool_site), objective, cands)
    for i, cand in base.items():
        _merge(cands[i], cand)
    penalty = _penalty(cands, jobs)
    bound = float(sum(min(b.bound, p) for b, p in zip(best, penalty, strict=True)))

    pm = binding_rows(jobs, cands, headroom, compiled.pool_site, grid.n)
    start_pick = min((greedy_pick, base), key=lambda ch: penalized(ch, penalty))
    restricted_bound = bound
    if pm.n_capacity_rows == 0:
        chosen = {i: cs[0] for i, cs in enumerate(cands) if cs}
        status, method = "optimal", "no capacity row can bind: every job runs at its own optimum"
        columns = sum(len(cs) for cs in cands)
    else:
        res = solve_patterns(jobs, pm, headroom, compiled.pool_site, grid.n, penalty, start_pick, limits,
                             SAFETY_TIME_LIMIT_S)
        chosen, status, restricted_bound, columns = res.chosen, res.status, res.bound, res.columns
        method = (f"restricted MILP (HiGHS, {res.status}) over {len(pm.flat)} candidate patterns and "
                  f"{pm.n_capacity_rows} capacity rows that can bind, warm-started from greedy/run-now")
        ok = res.objective < float("inf") and within_capacity(
            jobs, chosen, Usage(headroom, grid.n, compiled.pool_site))
        if not ok or penalized(chosen, penalty) > penalized(start_pick, penalty) + 1e-9:
            chosen, method = start_pick, method + "; kept the warm start (the solver's answer was not better)"
    value = penalized(chosen, penalty)
    if value <= bound * (1 + 1e-9) + 1e-9:
        status = "optimal"
    if penalized(chosen, penalty) > penalized(base, penalty) + 1e-9:  # never worse than run now
        chosen, method = dict(base), method + "; kept the run-now baseline"
        value = penalized(chosen, penalty)
    seconds = time.perf_counter() - t0
    return _assemble(compiled, grid, jobs, prices, chosen, base, base_left, reasons, deferred, objective,
                     ScheduleBound(objective=objective, value=round(value, 6), bound=round(bound, 6),
                                   gap=round(relative_gap(value, bound), 6), status=status,
                                   method="bound: each job's own best pattern, capacity ignored; " + method,
                                   restricted_bound=round(restricted_bound, 6), candidates=columns,
                                   capacity_rows=pm.n_capacity_rows, seconds=round(seconds, 4),
                                   baseline_seconds=round(baseline_seconds, 4)))


def _assemble(compiled: Compiled, grid: SlotGrid, jobs: list[Job], prices: Prices,
              chosen: dict[int, Candidate], base: dict[int, Candidate], base_left: dict[int, str],
              reasons: dict[str, list[str]], deferred: list[Workload], objective: str,
              bound: ScheduleBound) -> Schedule:
    index = {job.name: i for i, job in enumerate(jobs)}
    out_jobs: list[ScheduledJob] = []
    base_jobs: list[ScheduledJob] = []
    unscheduled: list[Unscheduled] = []
    base_un: list[Unscheduled] = []
    for w in deferred:
        i = index.get(w.name)
        if i is None:
            unscheduled.append(Unscheduled(workload=w.name, reasons=reasons.get(w.name, ["not schedulable"])))
            base_un.append(Unscheduled(workload=w.name, reasons=reasons.get(w.name, ["not schedulable"])))
            continue
        if i in chosen:
            out_jobs.append(scheduled_job(compiled, grid, jobs[i], prices, chosen[i]))
        else:
            unscheduled.append(Unscheduled(workload=w.name, reasons=[NO_ROOM_IN_WINDOW]))
        if i in base:
            base_jobs.append(scheduled_job(compiled, grid, jobs[i], prices, base[i]))
        else:
            base_un.append(Unscheduled(workload=w.name, reasons=[base_left.get(i, "not scheduled")]))
    tot = totals(jobs, prices, chosen)
    base_tot = totals(jobs, prices, base)
    notes = []
    if set(chosen) != set(base):
        notes.append(f"the schedule runs {len(chosen)} jobs and the run-now baseline {len(base)}: "
                     "savings compare different sets of jobs")
    return Schedule(
        jobs=out_jobs, totals=tot, baseline=Baseline(jobs=base_jobs, totals=base_tot, unscheduled=base_un),
        unscheduled=unscheduled, savings=savings(tot, base_tot), bound=bound, objective=objective,
        start=format_time(grid.start), end=format_time(grid.end), slot_h=grid.slot_h, notes=notes,
    )
