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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetyard.placement.context import Ledger
from fleetyard.placement.costmodel import plan_costs
from fleetyard.placement.explain import replicas_for, unplaced_reasons, unserved_by_region
from fleetyard.placement.greedy import greedy
from fleetyard.placement.model import add_failure_scenario, build_model
from fleetyard.placement.optimizer import OptimizerOptions, optimize, solve_model
from fleetyard.placement.result import Placement
from fleetyard.placement.usage import free_ledger, subtract, used
from fleetyard.spec.plan import ResilienceEntry, Unplaced

if TYPE_CHECKING:
    from fleetyard.placement.planner import Planner

N1_ROUNDS = 3
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


def affected_workloads(planner: Planner, placement: Placement, failed_sites: set[int]) -> list[str]:
    c = planner.compiled
    out = []
    for name in planner.fleet.workloads:
        pools = placement.replicas.get(name, {})
        if any(int(c.pool_site[p]) in failed_sites for p in pools):
            out.append(name)
    return out


def _failed_ledger(planner: Planner, failed_sites: set[int]) -> Ledger:
    c = planner.compiled
    ledger = c.full_ledger()
    for s in failed_sites:
        ledger.gpus[c.site_pools[s]] = 0
        ledger.it_kw[s] = 0.0
        ledger.cooling_kw[s] = 0.0
    return ledger


def movable_workloads(planner: Planner, placement: Placement, displaced: list[str],
                      failed_sites: set[int]) -> list[str]:
    """Placed workloads that may make room: no higher priority than the displaced work,
    and on a site where the displaced work could go."""
    c = planner.compiled
    reach = {int(s) for w in displaced for s in planner.by_name[w].sites} - failed_sites
    top = max((planner.by_name[w].w.spec.priority for w in displaced), default=0)
    gone = set(displaced)
    workloads = planner.fleet.workloads
    return [name for name, pools in placement.replicas.items()
            if name not in gone and pools and workloads[name].spec.priority <= top
            and any(int(c.pool_site[p]) in reach for p in pools)]


def failover(planner: Planner, placement: Placement, failed: Iterable[str], *, exact: bool = True,
             options: OptimizerOptions | None = None) -> Failover:
    """Re-place what `failed` sites hosted. Greedy (`exact=False`) uses free capacity only;
    the exact failover may also move other work or preempt lower-priority work to make
    room, at a disruption penalty (see `model.build_model`)."""
    c = planner.compiled
    names = list(dict.fromkeys(failed))
    failed_sites = {c.site_index[n] for n in names}
    displaced = affected_workloads(planner, placement, failed_sites)
    capacity = _failed_ledger(planner, failed_sites)
    floors = {
        w: {p: n for p, n in placement.replicas.get(w, {}).items() if int(c.pool_site[p]) not in failed_sites}
        for w in displaced
    }
    survivors = Placement("floors", replicas={w: dict(f) for w, f in floors.items()})
    ledger = subtract(subtract(capacity, used(c, placement, skip=displaced)), used(c, survivors))
    quick = greedy(planner.ctx, planner.runner, [planner.by_name[w] for w in displaced], ledger=ledger,
                   existing=floors)
    if exact:
        movable = movable_workloads(planner, placement, displaced, failed_sites)
        affected = [w for w in planner.fleet.workloads if w in set(displaced) | set(movable)]
        ledger = subtract(capacity, used(c, placement, skip=affected))
        opts = options or OptimizerOptions(time_limit=FAILOVER_TIME_LIMIT)
        sticky = {w: dict(placement.replicas.get(w, {})) for w in movable}
        start = _merge(placement, quick, displaced)  # everything stays, displaced work as greedy put it
        partial = optimize(planner.ctx, planner.runner, [], ledger=ledger, floors=floors, options=opts,
                           candidates=[planner.by_name[w] for w in affected], sticky=sticky, start=start)
    else:
        affected = displaced
        partial = quick
    after = _merge(placement, partial, affected)
    return _judge(planner, names, failed_sites, placement, after, affected)


def _merge(base: Placement, partial: Placement, affected: list[str]) -> Placement:
    gone = set(affected)
    out = Placement(base.strategy, solver=partial.solver, status=partial.status, seconds=partial.seconds)
    for w, pools in base.replicas.items():
        if w not in gone:
            out.replicas[w] = dict(pools)
    for w, routes in base.routes.items():
        if w not in gone:
            out.routes[w] = dict(routes)
    for table, source in ((out.missing, base.missing), (out.spread_short, base.spread_short)):
        table.update({w: v for w, v in source.items() if w not in gone})
    for w in affected:
        if w in partial.replicas:
            out.replicas[w] = dict(partial.replicas[w])
        if w in partial.routes:
            out.routes[w] = dict(partial.routes[w])
        if w in partial.missing:
            out.missing[w] = partial.missing[w]
        if w in partial.spread_short:
            out.spread_short[w] = partial.spread_short[w]
    return out


def _judge(planner: Planner, names: list[str], failed_sites: set[int], before: Placement,
           after: Placement, affected: list[str]) -> Failover:
    ctx, c = planner.ctx, planner.compiled
    free = free_ledger(c, after, down=failed_sites)
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
            reasons = unplaced_reasons(ctx, planner.runner, cand, after, free, worse, sorted(failed_sites))
            n = max(missing, replicas_for(cand, sum(worse.values())), spread)
            unplaced.append(Unplaced(workload=w, replicas=n, reasons=reasons, unserved=worse))
    fleet = planner.fleet

    def cost(p: Placement) -> float:
        triples = [(fleet.workloads[w], q, n) for w in affected for q, n in p.replicas.get(w, {}).items()]
        per_w, _ = plan_costs(ctx.costs, triples)
        return sum(b.total for b in per_w.values())

    delta = cost(after) - cost(before)
    return Failover(names, before, after, affected, not unplaced, unplaced, moved, round(delta, 4))


def resilience_report(planner: Planner, placement: Placement,
                      options: OptimizerOptions | None = None, workers: int | None = None) -> list[ResilienceEntry]:
    """For each site: is its loss alone absorbable by failover?

    The greedy failover runs first (when it absorbs the loss that is proof enough);
    the exact failovers of the remaining sites run on a thread per core (HiGHS
    releases the GIL while it solves, and each solve is single-threaded and
    deterministic, so the report does not depend on the number of workers)."""
    hosting = {int(planner.compiled.pool_site[p]) for pools in placement.replicas.values() for p in pools}
    per_site = OptimizerOptions(time_limit=FAILOVER_TIME_LIMIT, mip_gap=0.01, service_only_gap=0.5,
                                seed=options.seed if options else 0)
    results: dict[str, Failover | None] = {}
    for s, name in enumerate(planner.compiled.site_names):
        if s not in hosting:
            results[name] = None
            continue
        quick = failover(planner, placement, [name], exact=False)
        results[name] = quick if quick.absorbable else None
    hard = [name for s, name in enumerate(planner.compiled.site_names) if s in hosting and results[name] is None]
    n = max(1, min(workers or os.cpu_count() or 1, len(hard)))
    with ThreadPoolExecutor(max_workers=n) as pool:
        exact = list(pool.map(lambda name: failover(planner, placement, [name], exact=True, options=per_site), hard))
    results.update(zip(hard, exact, strict=True))
    out: list[ResilienceEntry] = []
    for name in planner.compiled.site_names:
        result = results[name]
        if result is None:
            out.append(ResilienceEntry(failed_site=name, absorbable=True, unplaced=[]))
            continue
        out.append(ResilienceEntry(failed_site=name, absorbable=result.absorbable, unplaced=result.unplaced,
                                   moved_replicas=result.moved_replicas,
                                   cost_delta_per_hour=result.cost_delta_per_hour))
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
