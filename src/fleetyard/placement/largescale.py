"""The optimizer on big fleets: Lagrangian prices, a priced repair, a MIP polish.

A 1,000-site, 20,000-workload fleet has millions of (workload, pool) pairs; the full
MIP does not fit a minute. Instead:

1. Start from the best of a few greedy plans: the baseline's order (priority, then
   name) and the most constrained first (priority, then fewest candidate pools) -
   an upper bound, and never worse than the baseline.
2. Find capacity prices by subgradient on the Lagrangian dual (`lagrange`): every
   workload is priced against every one of its candidate pools, at once. The best
   dual value is the proven lower bound, over *all* candidates.
3. Repair: place workloads one by one - highest priority first, then those with the
   most to lose (largest regret between their best and second-best priced pool) -
   each on its cheapest *priced* pool that still has room. Prices steer work away
   from pools that others need more.
4. Polish: solve the MIP restricted to each workload's best priced pools plus those
   the best plan uses, starting from that plan, for the remaining time.

The bound reported is the Lagrangian bound minus the plan's shortfall penalty (see
`optimizer`), so it holds for the unpruned problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from fleetyard.placement.candidates import Candidates
from fleetyard.placement.context import FloatArray, Ledger
from fleetyard.placement.flat import Flat, build_flat
from fleetyard.placement.framework import Context
from fleetyard.placement.greedy import greedy
from fleetyard.placement.lagrange import subgradient
from fleetyard.placement.model import build_model, penalty_unit
from fleetyard.placement.movecost import MoveCosts
from fleetyard.placement.objective import objective, service_short, weighted_demand
from fleetyard.placement.optimizer import OptimizerOptions, solve_model
from fleetyard.placement.result import Placement, StageResult
from fleetyard.placement.runner import Runner
from fleetyard.placement.stages import cost_stage, service_stage

LARGE_ABOVE = 40_000  # candidate (workload, pool) pairs; below this the full MIP is solved
K_POLISH = 6  # cheapest priced pools per workload in the polishing MIP
# Above this many pairs the polishing MIP is skipped: at 1,000 sites x 20,000 workloads
# (137k pairs, 380k columns) HiGHS spent 16 s in presolve and 14 s at the root and
# never improved the repaired plan (docs/benchmarks.md).
POLISH_MAX_PAIRS = 100_000
SERVICE_DUAL_STEPS = 120  # subgradient steps per stage bound on big fleets (half above 500k pairs)
# Weights of the shortfall penalty tried for the cost stage's bound (a Lagrangian dual of
# "serve at least as much"): at 200 x 3,000 the best was near 0.001 (docs/planning.md).
SERVICE_WEIGHTS = (0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001)
FIRST_WEIGHT = 3  # index of the weight tried first; the search walks out from it while the bound rises
DUAL_SHARE = 0.5  # of the time limit, a safety stop for the subgradient: its step count (200)
# normally ends it, so that the prices, and the plan, do not depend on the clock


def is_large(cands: Sequence[Candidates]) -> bool:
    return sum(len(c.pools) for c in cands) > LARGE_ABOVE


def _priced(cands: Sequence[Candidates], pi: FloatArray, mu: FloatArray) -> dict[str, FloatArray]:
    return {c.name: c.cost + c.gpus * pi[c.pools] + c.power * mu[c.sites] for c in cands}


def most_constrained_first(cands: Sequence[Candidates]) -> list[str]:
    """Priority first; within a priority, the workloads with the fewest candidate pools."""
    return [c.name for c in sorted(cands, key=lambda c: (-c.w.spec.priority, len(c.pools), c.name))]


def _order(cands: Sequence[Candidates], priced: dict[str, FloatArray]) -> list[str]:
    def regret(c: Candidates) -> float:
        key = priced[c.name]
        if len(key) < 2:
            return float("inf")  # a single option: place it while it is free
        two = np.partition(key, 1)[:2]
        return float(two[1] - two[0])

    return [c.name for c in sorted(cands, key=lambda c: (-c.w.spec.priority, len(c.pools), -regret(c), c.name))]


def optimize_large(ctx: Context, runner: Runner, ledger: Ledger, cands: Sequence[Candidates],
                   opts: OptimizerOptions, start: Placement | None, moves: MoveCosts | None = None) -> Placement:
    t0 = time.perf_counter()
    c = ctx.compiled
    unit = penalty_unit(cands)
    notes: list[str] = []
    base = start if start is not None else greedy(ctx, runner, cands, ledger=ledger)
    best, best_obj = base, objective(cands, base, unit)
    constrained = greedy(ctx, runner, cands, ledger=ledger, order=most_constrained_first(cands))
    constrained_obj = objective(cands, constrained, unit)
    if sum(constrained_obj) < sum(best_obj):
        best, best_obj = constrained, constrained_obj
        notes.append("start: greedy, most constrained workloads first")
    flat = build_flat(cands, unit)
    cap_gpus = ledger.gpus.astype(np.float64)
    cap_kw = np.minimum(ledger.it_kw, ledger.cooling_kw)
    dual = subgradient(flat, cap_gpus, cap_kw, upper=sum(best_obj), time_limit=DUAL_SHARE * opts.time_limit)
    notes.append(f"Lagrangian dual: {dual.iterations} subgradient steps to the best bound")
    priced = _priced(cands, dual.pi, dual.mu)
    repaired = greedy(ctx, runner, cands, ledger=ledger, rank=priced, order=_order(cands, priced))
    repaired_obj = objective(cands, repaired, unit)
    if sum(repaired_obj) < sum(best_obj):
        best, best_obj = repaired, repaired_obj
        notes.append("the priced repair beat the greedy plan")
    # polish: each workload's cheapest priced pools plus those the best plan uses
    restricted = []
    for cand in cands:
        keep = np.zeros(len(cand.pools), dtype=bool)
        keep[np.argsort(priced[cand.name], kind="stable")[:K_POLISH]] = True
        keep |= np.isin(cand.pools, list(best.replicas.get(cand.name, {})))
        if moves is not None:
            keep |= np.isin(cand.pools, list(moves.pools_of(cand.name)))
        restricted.append(cand.subset(keep))
    kept = sum(len(r.pools) for r in restricted)
    if kept > POLISH_MAX_PAIRS:
        notes.append(f"no polishing MIP: {kept:,} candidate pairs is above {POLISH_MAX_PAIRS:,}")
        placement = best
        placement.objective, placement.penalty = best_obj
        placement.status = "heuristic"
    else:
        built = build_model(c, ledger, restricted, unit=unit, moves=moves)
        notes.append(f"polishing MIP over {kept:,} of {len(flat.pool):,} candidate (workload, pool) pairs")
        remaining = max(1.0, opts.time_limit - (time.perf_counter() - t0))
        placement = solve_model(built, replace(opts, time_limit=remaining), None, best, built.move_cost)
        if placement.objective is None or placement.penalty is None:  # the solver failed: keep the best plan
            placement = best
            placement.objective, placement.penalty = best_obj
    placement.notes.extend(notes)
    placement.strategy = "optimizer"
    placement.solver = "highs"
    placement.bound = min(placement.objective or 0.0, max(0.0, dual.bound - (placement.penalty or 0.0)))
    placement.objective_bound = min((placement.objective or 0.0) + (placement.penalty or 0.0), dual.bound)
    placement.bound_method = (
        "Lagrangian bound over all candidates (capacity prices by subgradient), minus this plan's "
        "shortfall penalty: no plan serving at least as much (priority-weighted) costs less"
    )
    placement.stages = _stages(flat, cap_gpus, cap_kw, cands, placement, unit)
    placement.seconds = time.perf_counter() - t0
    return placement


def _search_weights(bound_at: Callable[[float], float]) -> list[tuple[float, float]]:
    """The weights tried for the cost stage's bound and their bounds: SERVICE_WEIGHTS[FIRST_WEIGHT]
    and its neighbours, then further out in the direction where the bound rose (it is
    unimodal in the weight on every fleet measured), so 3-4 duals instead of all six."""
    tried = {FIRST_WEIGHT: bound_at(SERVICE_WEIGHTS[FIRST_WEIGHT])}
    for step in (-1, 1):
        i = FIRST_WEIGHT + step
        while 0 <= i < len(SERVICE_WEIGHTS):
            tried[i] = bound_at(SERVICE_WEIGHTS[i])
            if tried[i] <= tried[i - step]:
                break
            i += step
    return [(SERVICE_WEIGHTS[i], tried[i]) for i in sorted(tried)]


def _stages(flat: Flat, cap_gpus: FloatArray, cap_kw: FloatArray, cands: Sequence[Candidates],
            placement: Placement, unit: float) -> list[StageResult]:
    """Stage reports valid for the *whole* candidate set (the polish saw only part of it):
    the service bound from the Lagrangian dual of the service problem alone (cost zero),
    the cost bound from the weighted-sum dual minus this plan's shortfall penalty."""
    short = service_short(cands, placement)
    demand = weighted_demand(cands)
    service_only = replace(flat, cost=np.zeros_like(flat.cost))
    dual = subgradient(service_only, cap_gpus, cap_kw, upper=short * unit, iterations=SERVICE_DUAL_STEPS,
                       time_limit=60.0)
    stage_status = placement.status if placement.status in ("time-limit",) else "heuristic"
    service = service_stage(short, dual.bound / unit, demand, stage_status,
                            f"Lagrangian bound over all candidates ({dual.iterations} subgradient steps) on the "
                            "priority-weighted GPUs left short")
    cost = placement.objective or 0.0
    steps = SERVICE_DUAL_STEPS if len(flat.pool) <= 500_000 else SERVICE_DUAL_STEPS // 2
    penalty = short * unit
    best_bound, best_weight = max(0.0, placement.bound or 0.0), 1.0
    def bound_at(weight: float) -> float:  # cost >= L(cost + weight x penalty) - weight x penalty(plan)
        scaled = replace(flat, value=flat.value * weight)
        dual_w = subgradient(scaled, cap_gpus, cap_kw, upper=cost + weight * penalty, iterations=steps,
                             time_limit=60.0)
        return dual_w.bound - weight * penalty

    for weight, value in _search_weights(bound_at):
        if value > best_bound:
            best_bound, best_weight = value, weight
    method = (f"Lagrangian bound over all candidates on cost + {best_weight:g} x the shortfall penalty, minus "
              "that share of this plan's penalty: no plan serving at least as much costs less")
    placement.bound = min(cost, best_bound)
    placement.bound_method = method
    cost_st = cost_stage(cost, best_bound, stage_status, method)
    return [service, cost_st]
