"""Resilience: failover re-plans, the per-site absorbability report, and N-1 planning.

Failover semantics (what an operator does when a site goes dark): everything not
on the failed sites stays where it is; replicas on the failed sites are re-placed
on the capacity left free elsewhere, and the demand they served is re-routed
(within SLO) to surviving or new replicas. A site's loss is *absorbable* when that
failover serves every workload at least as well as the plan did.

The per-site report tries the greedy failover first (fast, and if it absorbs the
loss that is proof enough) and falls back to the exact MILP failover otherwise.
The exact failover is a MILP over a bounded neighbourhood (`neighbourhood`), so
that its size does not grow with the fleet: the displaced workloads and at most
MAX_MOVABLE workloads on the sites where they could best go, which may move to make
room; on big fleets each keeps only the pools it uses and its cheapest others. The
verdict is that of the failover fleetyard would run. Its stop rules count work
(`FAILOVER_LIMITS` branch-and-bound nodes), so the report is the same on an idle or
a busy machine; the clock (`FAILOVER_TIME_LIMIT`, and the
report's `budget`) is only a safety net, and a verdict it cut short says so.

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

from fleetyard.placement.context import Ledger
from fleetyard.placement.costmodel import plan_costs
from fleetyard.placement.explain import replicas_for, unplaced_reasons, unserved_by_region
from fleetyard.placement.greedy import greedy
from fleetyard.placement.milp import WorkLimits, solve_highs
from fleetyard.placement.model import BuiltModel, add_failure_scenario, build_model
from fleetyard.placement.neighbourhood import merge, movable_workloads, neighbourhood
from fleetyard.placement.objective import service_short
from fleetyard.placement.optimizer import OptimizerOptions, optimize, solve_model
from fleetyard.placement.result import Placement
from fleetyard.placement.stages import with_objective
from fleetyard.placement.usage import UsageIndex
from fleetyard.spec.plan import ResilienceEntry, Unplaced

if TYPE_CHECKING:
    from fleetyard.placement.planner import Planner

N1_ROUNDS = 3
FAILOVER_LIMITS = WorkLimits(max_nodes=200)
FAILOVER_TIME_LIMIT = 60.0  # safety net per exact failover (reported when it stops one)
REPORT_BUDGET = 600.0  # safety net for the whole report, seconds
LP_PROOF = "LP bound: no failover serves the affected work as well (what is left: greedy failover)"


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
    method: str | None = None  # how the verdict was reached, when not by the failover itself


def affected_workloads(planner: Planner, placement: Placement, failed_sites: set[int],
                       index: UsageIndex | None = None) -> list[str]:
    """Workloads with replicas on the failed sites, in fleet order."""
    index = index or UsageIndex(planner.compiled, placement)
    hit = {w for s in failed_sites for w in index.by_site.get(s, [])}
    return sorted(hit, key=index.order.__getitem__)


def failover(planner: Planner, placement: Placement, failed: Iterable[str], *, exact: bool = True,
             options: OptimizerOptions | None = None, index: UsageIndex | None = None,
             verdict_only: bool = False) -> Failover:
    """Re-place what `failed` sites hosted. Greedy (`exact=False`) uses free capacity only;
    the exact failover may also move other work or preempt lower-priority work to make
    room, at a disruption penalty (see `model.build_model`). `index` (of `placement`)
    saves rescanning the placement when many failovers are asked of it. With
    `verdict_only` (the resilience report) a loss the LP relaxation proves unabsorbable
    skips the exact MIP and keeps the greedy failover's plan: right verdict, not the
    failover that would run."""
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
        movable = movable_workloads(planner, placement, displaced, failed_sites, index)
        affected = sorted(set(displaced) | set(movable), key=index.order.__getitem__)
        ledger = index.free_without(affected, down=failed_sites)
        opts = options or OptimizerOptions(time_limit=FAILOVER_TIME_LIMIT, limits=FAILOVER_LIMITS)
        sticky = {w: dict(placement.replicas.get(w, {})) for w in movable}
        start = merge(placement, quick, displaced)  # everything stays, displaced work as greedy put it
        near = neighbourhood(planner, affected, set(displaced), start, failed_sites)
        if floors or sticky:
            built = build_model(c, ledger, near, floors, sticky=sticky)
            if verdict_only and _cannot_absorb(built, service_short(near, placement)):
                # proven by the LP relaxation: no failover of this neighbourhood serves
                # the affected work as well as the plan did; the greedy failover says what is left
                after = merge(placement, quick, displaced)
                result = _judge(planner, names, failed_sites, placement, after, displaced, index)
                return replace(result, method=LP_PROOF)
            partial = solve_model(built, opts, None, start)
        else:
            partial = optimize(planner.ctx, planner.runner, [], ledger=ledger, floors=floors, options=opts,
                               candidates=near, sticky=sticky, start=start)
    else:
        affected = displaced
        partial = quick
    after = merge(placement, partial, affected)
    return _judge(planner, names, failed_sites, placement, after, affected, index)


def _cannot_absorb(built: BuiltModel, before_short: float) -> bool:
    """True when even the LP relaxation of the failover leaves more priority-weighted GPUs
    short than the plan did: then some affected workload is served worse by every
    failover of this neighbourhood, and no MIP is needed to say the loss is not absorbable."""
    weights = built.service_weights()
    relaxed = solve_highs(with_objective(built.lp, weights), integral=False, time_limit=FAILOVER_TIME_LIMIT)
    if relaxed.status != "optimal":
        return False
    return relaxed.objective > before_short + 1e-6 * max(1.0, before_short) + 1e-6


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
    deterministic, so the verdicts do not depend on the number of workers). Every
    exact failover stops on a work limit (`FAILOVER_LIMITS`); `budget` seconds
    (default `REPORT_BUDGET`) is the clock's safety net only: sites it leaves out keep
    the greedy verdict, and say so."""
    t0 = time.perf_counter()
    c = planner.compiled
    deadline = t0 + (budget if budget is not None else REPORT_BUDGET)
    index = UsageIndex(c, placement)
    per_site = OptimizerOptions(time_limit=FAILOVER_TIME_LIMIT, mip_gap=0.01, service_only_gap=0.5,
                                seed=options.seed if options else 0, limits=FAILOVER_LIMITS)
    quick: dict[str, Failover] = {}
    for s, name in enumerate(c.site_names):
        if index.by_site.get(s):
            quick[name] = failover(planner, placement, [name], exact=False, index=index)
    hard = [name for name in c.site_names if name in quick and not quick[name].absorbable]

    def exact(name: str) -> tuple[Failover, str]:
        left = deadline - time.perf_counter()
        if left < 1.0:
            return quick[name], "greedy failover (exact skipped: the clock's safety net)"
        opts = replace(per_site, time_limit=min(per_site.time_limit, left))
        result = failover(planner, placement, [name], exact=True, options=opts, index=index, verdict_only=True)
        method = result.method or {"time-limit": "exact failover (stopped by the clock's safety net)",
                                   "node-limit": "exact failover (node limit)"}.get(result.after.status,
                                                                                    "exact failover")
        return result, method

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
