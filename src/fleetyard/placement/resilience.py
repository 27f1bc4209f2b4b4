"""Resilience: failover re-plans, the per-site absorbability report, and N-1 planning.

Failover semantics (what an operator does when a site goes dark): everything not
on the failed sites stays where it is; replicas on the failed sites are re-placed
on the capacity left free elsewhere, and the demand they served is re-routed
(within SLO) to surviving or new replicas. A site's loss is *absorbable* when that
failover serves every workload at least as well as the plan did.

The per-site report tries the greedy failover first (fast, and if it absorbs the
loss that is proof enough) and falls back to the exact MILP failover otherwise.

N-1 planning (`resilience: n-1`) is cold standby by default: for each site whose
loss is not yet absorbable, the model gets that failure scenario (what the site
hosts must be able to restart on capacity kept free elsewhere, inference within its
SLO) and is solved again, up to `N1_ROUNDS` rounds; the free capacity is shared by
all scenarios. With `standby: hot` inference instead keeps enough running replicas
that the survivors of any one site's loss still serve each region. What still cannot
be protected is reported with the workloads responsible.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from fleetyard.placement.context import Ledger
from fleetyard.placement.costmodel import plan_costs
from fleetyard.placement.explain import replicas_for, unplaced_reasons, unserved_by_region
from fleetyard.placement.greedy import greedy
from fleetyard.placement.model import add_failure_scenario, build_model
from fleetyard.placement.optimizer import OptimizerOptions, optimize, solve_model
from fleetyard.placement.result import Placement
from fleetyard.placement.usage import UsageIndex
from fleetyard.spec.plan import ResilienceEntry, Unplaced

if TYPE_CHECKING:
    from fleetyard.placement.planner import Planner

N1_ROUNDS = 3
REACH_POOLS = 8  # a displaced workload may push aside work on the sites of its 8 cheapest pools
FAILOVER_TIME_LIMIT = 10.0


@dataclass
class Failover:
    failed: list[str]
    before: Placement
    after: Placement
    affected: list[str]
    absorbable: bool
    unplaced: list[Unplaced]  # what is served worse than before, and why
    moved_replicas: int
    cost_delta_per_hour: float


def affected_workloads(planner: Planner, placement: Placement, failed_sites: set[int],
                       index: UsageIndex | None = None) -> list[str]:
    """Workloads with replicas on the failed sites, in fleet order."""
    index = index or UsageIndex(planner.compiled, placement)
    hit = {w for s in failed_sites for w in index.by_site.get(s, [])}
    return sorted(hit, key=index.order.__getitem__)


def movable_workloads(planner: Planner, placement: Placement, displaced: list[str],
                      failed_sites: set[int]) -> list[str]:
    """Placed workloads that may make room: no higher priority than the displaced work,
    and on one of the sites where the displaced work could best go (the sites of each
    displaced workload's REACH_POOLS cheapest candidate pools)."""
    c = planner.compiled
    reach: set[int] = set()
    for w in displaced:
        cand = planner.by_name[w]
        alive = ~np.isin(cand.sites, list(failed_sites))
        order = np.argsort(cand.cost[alive], kind="stable")[:REACH_POOLS]
        reach.update(int(s) for s in cand.sites[alive][order])
    top = max((planner.by_name[w].w.spec.priority for w in displaced), default=0)
    gone = set(displaced)
    workloads = planner.fleet.workloads
    return [name for name, pools in placement.replicas.items()
            if name not in gone and pools and workloads[name].spec.priority <= top
            and any(int(c.pool_site[p]) in reach for p in pools)]


def failover(planner: Planner, placement: Placement, failed: Iterable[str], *, exact: bool = True,
             options: OptimizerOptions | None = None, index: UsageIndex | None = None) -> Failover:
    """Re-place what `failed` sites hosted. Greedy (`exact=False`) uses free capacity only;
    the exact failover may also move other work or preempt lower-priority work to make
    room, at a disruption penalty (see `model.build_model`). `index` (of `placement`)
    saves rescanning the placement when many failovers are asked of it."""
    c = planner.compiled
    index = index if index is not None and index.placement is placement else UsageIndex(c, placement)
    names = list(dict.fromkeys(failed))
    failed_sites = {c.site_index[n] for n in names}
    displaced = affected_workloads(planner, placement, failed_sites, index)
    floors = {
        w: {p: n for p, n in placement.replicas.get(w, {}).items() if int(c.pool_site[p]) not in failed_sites}
        for w in displaced
    }
    # Free capacity with the failed sites gone; the displaced workloads' survivors stay
    # counted (their usage on the failed sites vanished with those sites' capacity).
    ledger = index.free_without((), down=failed_sites)
    quick = greedy(planner.ctx, planner.runner, [planner.by_name[w] for w in displaced], ledger=ledger,
                   existing=floors)
    if exact:
        movable = movable_workloads(planner, placement, displaced, failed_sites)
        affected = sorted(set(displaced) | set(movable), key=index.order.__getitem__)
        ledger = index.free_without(affected, down=failed_sites)
        opts = options or OptimizerOptions(time_limit=FAILOVER_TIME_LIMIT)
        sticky = {w: dict(placement.replicas.get(w, {})) for w in movable}
        start = _merge(placement, quick, displaced)  # everything stays, displaced work as greedy put it
        partial = optimize(planner.ctx, planner.runner, [], ledger=ledger, floors=floors, options=opts,
                           candidates=[planner.by_name[w] for w in affected], sticky=sticky, start=start)
    else:
        affected = displaced
        partial = quick
    after = _merge(placement, partial, affected)
    return _judge(planner, names, failed_sites, placement, after, affected, index)


def _merge(base: Placement, partial: Placement, affected: list[str]) -> Placement:
    """`base` with the affected workloads replaced by `partial`'s (inner tables are shared,
    not copied: placements are not changed once built)."""
    out = Placement(base.strategy, solver=partial.solver, status=partial.status, seconds=partial.seconds)
    out.replicas = dict(base.replicas)
    out.routes = dict(base.routes)
    out.missing = dict(base.missing)
    out.spread_short = dict(base.spread_short)
    for w in affected:
        out.replicas.pop(w, None)
        out.routes.pop(w, None)
        out.missing.pop(w, None)
        out.spread_short.pop(w, None)
        if w in partial.replicas:
            out.replicas[w] = partial.replicas[w]
        if w in partial.routes:
            out.routes[w] = partial.routes[w]
        if w in partial.missing:
            out.missing[w] = partial.missing[w]
        if w in partial.spread_short:
            out.spread_short[w] = partial.spread_short[w]
    return out


def _holders_after(index: UsageIndex, now: UsageIndex, affected: list[str]) -> dict[int, list[str]]:
    """Who holds each pool after a failover: the index's holders with the affected
    workloads' entries replaced (only the pools they touch are rebuilt)."""
    gone = set(affected)
    touched = {p for w in affected for p in index.placement.replicas.get(w, {})} | set(now.holders)
    out = dict(index.holders)
    for p in touched:
        out[p] = [w for w in index.holders.get(p, []) if w not in gone] + now.holders.get(p, [])
    return out


def _judge(planner: Planner, names: list[str], failed_sites: set[int], before: Placement,
           after: Placement, affected: list[str], index: UsageIndex) -> Failover:
    ctx, c = planner.ctx, planner.compiled
    now = UsageIndex(c, Placement("after", replicas={w: after.replicas.get(w, {}) for w in affected}))
    freed = index.free_without(affected, down=failed_sites)
    free = Ledger(freed.gpus - now.total.gpus, freed.it_kw - now.total.it_kw,
                  freed.cooling_kw - now.total.cooling_kw, "free")
    holders: dict[int, list[str]] | None = None
    unplaced: list[Unplaced] = []
    moved = 0
    for w in affected:
        cand = planner.by_name[w]
        old = before.replicas.get(w, {})
        new = after.replicas.get(w, {})
        moved += sum(max(0, n - old.get(p, 0)) for p, n in new.items())
        un_before = unserved_by_region(ctx, cand, before)
        un_after = unserved_by_region(ctx, cand, after)
        worse = {g: round(v - un_before.get(g, 0.0), 3) for g, v in un_after.items()
                 if v > un_before.get(g, 0.0) + 1e-6}
        missing = after.missing.get(w, 0) - before.missing.get(w, 0)
        spread = after.spread_short.get(w, 0) - before.spread_short.get(w, 0)
        if worse or missing > 0 or spread > 0:
            holders = holders if holders is not None else _holders_after(index, now, affected)
            ran_there = any(int(c.pool_site[p]) in failed_sites for p in old)
            reasons = unplaced_reasons(ctx, planner.runner, cand, after, free, worse, sorted(failed_sites), holders,
                                       hit=ran_there)
            n = max(missing, replicas_for(cand, sum(worse.values())), spread)
            unplaced.append(Unplaced(workload=w, replicas=n, reasons=reasons, unserved=worse))
    fleet = planner.fleet

    def cost(p: Placement) -> float:
        triples = [(fleet.workloads[w], q, n) for w in affected for q, n in p.replicas.get(w, {}).items()]
        per_w, _ = plan_costs(ctx.costs, triples)
        return sum(b.total for b in per_w.values())

    delta = cost(after) - cost(before)
    return Failover(names, before, after, affected, not unplaced, unplaced, moved, round(delta, 4))


def resilience_report(planner: Planner, placement: Placement, options: OptimizerOptions | None = None,
                      workers: int | None = None, budget: float | None = None) -> list[ResilienceEntry]:
    """For each site: is its loss alone absorbable by failover?

    The greedy failover runs first (when it absorbs the loss that is proof enough);
    the exact failovers of the remaining sites run on a thread per core (HiGHS
    releases the GIL while it solves, and each solve is single-threaded and
    deterministic, so the verdicts do not depend on the number of workers). Within
    `budget` seconds (default: the optimizer's time limit); sites not reached in
    time keep the greedy verdict, and say so."""
    t0 = time.perf_counter()
    c = planner.compiled
    deadline = t0 + (budget if budget is not None else (options.time_limit if options else 60.0))
    index = UsageIndex(c, placement)
    per_site = OptimizerOptions(time_limit=FAILOVER_TIME_LIMIT, mip_gap=0.01, service_only_gap=0.5,
                                seed=options.seed if options else 0)
    quick: dict[str, Failover] = {}
    for s, name in enumerate(c.site_names):
        if index.by_site.get(s):
            quick[name] = failover(planner, placement, [name], exact=False, index=index)
    hard = [name for name in c.site_names if name in quick and not quick[name].absorbable]

    def exact(name: str) -> tuple[Failover, str]:
        left = deadline - time.perf_counter()
        if left < 1.0:
            return quick[name], "greedy failover (exact skipped: time budget)"
        opts = replace(per_site, time_limit=min(per_site.time_limit, left))
        return failover(planner, placement, [name], exact=True, options=opts, index=index), "exact failover"

    n = max(1, min(workers or os.cpu_count() or 1, len(hard)))
    with ThreadPoolExecutor(max_workers=n) as pool:
        decided = dict(zip(hard, pool.map(exact, hard), strict=True))
    out: list[ResilienceEntry] = []
    for name in c.site_names:
        if name not in quick:
            out.append(ResilienceEntry(failed_site=name, absorbable=True, unplaced=[], method="no work here"))
            continue
        result, method = decided.get(name, (quick[name], "greedy failover"))
        out.append(ResilienceEntry(failed_site=name, absorbable=result.absorbable, unplaced=result.unplaced,
                                   moved_replicas=result.moved_replicas,
                                   cost_delta_per_hour=result.cost_delta_per_hour, method=method))
    return out


def optimize_n1(planner: Planner, options: OptimizerOptions) -> Placement:
    """Plan so that every single-site loss is absorbable, or say which workloads prevent it."""
    t0 = time.perf_counter()
    c = planner.compiled
    hot = planner.fleet.objective.spec.standby == "hot"
    built = build_model(c, c.full_ledger(), planner.candidates, hot_standby=hot)
    scenarios: set[int] = set()
    placement = solve_model(built, options, t0)
    for _ in range(N1_ROUNDS):
        report = resilience_report(planner, placement, options)
        failing = [c.site_index[e.failed_site] for e in report if not e.absorbable]
        new = [s for s in failing if s not in scenarios]
        if not new or time.perf_counter() - t0 > options.time_limit:
            break
        for s in new:
            add_failure_scenario(built, c, s)
            scenarios.add(s)
        placement = solve_model(built, options, t0)
    kind = "hot standby for inference, cold for jobs" if hot else "cold standby"
    placement.notes.append(f"resilience n-1: {kind}; {len(scenarios)} failure scenario(s) in the model")
    for w in planner.candidates:
        sites = {int(s) for s in w.sites}
        if len(sites) == 1 and placement.replicas.get(w.name):
            placement.notes.append(
                f"n-1 impossible for {w.name}: its only feasible site is {c.site_names[next(iter(sites))]}"
            )
    placement.seconds = time.perf_counter() - t0
    return placement


@dataclass(frozen=True)
class Move:
    """Replicas of one workload on one (site, SKU) before and after a failure."""

    workload: str
    site: str
    gpu_sku: str
    before: int
    after: int


def moves(before_planner: Planner, before: Placement, after_planner: Planner, after: Placement,
          workloads: Iterable[str]) -> list[Move]:
    """What changes for `workloads` between two placements (compared by site and SKU names)."""

    def table(planner: Planner, placement: Placement, w: str) -> dict[tuple[str, str], int]:
        c = planner.compiled
        out: dict[tuple[str, str], int] = {}
        for p, n in placement.replicas.get(w, {}).items():
            key = (c.site_names[int(c.pool_site[p])], c.pool_sku[p])
            out[key] = out.get(key, 0) + n
        return out

    out: list[Move] = []
    for w in workloads:
        old = table(before_planner, before, w)
        new = table(after_planner, after, w)
        for key in sorted(set(old) | set(new)):
            if old.get(key, 0) != new.get(key, 0):
                out.append(Move(w, key[0], key[1], old.get(key, 0), new.get(key, 0)))
    return out
