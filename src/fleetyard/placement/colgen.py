"""The optimizer on big fleets: restricted candidates, LP prices, Lagrangian proof.

1. Prune every workload to its few best pools (`pruning.prune`).
2. Solve the LP relaxation of the restricted model; its capacity-row duals are
   prices per GPU and per kW. Bring back every pruned pool those prices make
   attractive and solve again (column generation), a few rounds.
3. Solve the restricted MIP, starting from the greedy plan.
4. Prove the bound with `lagrange.lagrangian_bound` over *all* candidates at the
   last LP's prices (and at zero prices; the better of the two), so the reported
   gap holds for the unpruned problem.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from fleetyard.placement.candidates import Candidates
from fleetyard.placement.context import Compiled, FloatArray, Ledger
from fleetyard.placement.lagrange import lagrangian_bound
from fleetyard.placement.milp import solve_highs
from fleetyard.placement.model import BuiltModel, build_model, penalty_unit
from fleetyard.placement.optimizer import OptimizerOptions, solve_model
from fleetyard.placement.pruning import prune_all, reprice
from fleetyard.placement.result import Placement

REPRICE_ROUNDS = 3
PRUNE_ABOVE = 40_000  # candidate (workload, pool) pairs; below this the full model is solved


def should_prune(cands: Sequence[Candidates]) -> bool:
    return sum(len(c.pools) for c in cands) > PRUNE_ABOVE


def _prices(compiled: Compiled, built: BuiltModel, duals: FloatArray) -> tuple[FloatArray, FloatArray]:
    pool_price = np.zeros(compiled.n_pools)
    site_price = np.zeros(compiled.n_sites)
    for p, row in built.pool_rows.items():
        pool_price[p] = max(0.0, -float(duals[row]))
    for s, row in built.site_rows.items():
        site_price[s] = max(0.0, -float(duals[row]))
    return pool_price, site_price


def optimize_pruned(compiled: Compiled, ledger: Ledger, full: Sequence[Candidates], opts: OptimizerOptions,
                    start: Placement | None) -> Placement:
    t0 = time.perf_counter()
    unit = penalty_unit(full)
    restricted = prune_all(compiled, full)
    pool_price = np.zeros(compiled.n_pools)
    site_price = np.zeros(compiled.n_sites)
    notes = []
    lp_budget = 0.3 * opts.time_limit
    for _ in range(REPRICE_ROUNDS):
        built = build_model(compiled, ledger, restricted, unit=unit)
        remaining = lp_budget - (time.perf_counter() - t0)
        if remaining < 1.0:
            break
        relaxed = solve_highs(built.lp, integral=False, time_limit=remaining)
        if relaxed.row_duals is None:
            notes.append(f"LP relaxation stopped early ({relaxed.status}); bound at the last prices")
            break
        pool_price, site_price = _prices(compiled, built, relaxed.row_duals)
        restricted, added = reprice(compiled, full, restricted, pool_price, site_price)
        if added == 0:
            break
        notes.append(f"column generation: {added} pools brought back by the LP's capacity prices")
    built = build_model(compiled, ledger, restricted, unit=unit)
    kept = sum(len(c.pools) for c in restricted)
    total = sum(len(c.pools) for c in full)
    notes.append(f"pruned to {kept:,} of {total:,} candidate (workload, pool) pairs")
    remaining = OptimizerOptions(time_limit=max(1.0, opts.time_limit - (time.perf_counter() - t0)),
                                 mip_gap=opts.mip_gap, threads=opts.threads, seed=opts.seed, solver=opts.solver)
    placement = solve_model(built, remaining, None, start)
    placement.notes.extend(notes)
    if placement.objective is not None and placement.penalty is not None:
        lagrange = max(
            lagrangian_bound(compiled, ledger, full, unit, pool_price, site_price),
            lagrangian_bound(compiled, ledger, full, unit, np.zeros_like(pool_price), np.zeros_like(site_price)),
        )
        placement.bound = min(placement.objective, max(0.0, lagrange - placement.penalty))
        placement.bound_method = (
            "Lagrangian bound over all candidates at the LP's capacity prices, minus this plan's shortfall "
            "penalty: no plan serving at least as much (priority-weighted) costs less"
        )
    placement.seconds = time.perf_counter() - t0
    return placement
