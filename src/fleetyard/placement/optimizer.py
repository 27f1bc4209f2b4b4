"""The global optimizer: all workloads at once with HiGHS, in two lexicographic phases.

Phase 1 minimizes cost plus the shortfall penalty (see `model`), so as much work as
capacity allows is placed, higher priorities first. If anything is left short,
phase 2 pins each workload's service at least at the phase-1 level and minimizes
cost alone, starting from the phase-1 plan; its proven bound is then a bound on the
cost of *any* plan that serves as much. Time limits make a run stop early; without
them the same input always gives the same plan (HiGHS is deterministic for a given
seed and thread count).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fleetyard.placement.candidates import Candidates, build_candidates
from fleetyard.placement.context import FloatArray, Ledger
from fleetyard.placement.framework import Context
from fleetyard.placement.milp import relative_gap, solve_highs
from fleetyard.placement.model import BuiltModel, build_model, extract, model_cost
from fleetyard.placement.result import Placement
from fleetyard.placement.runner import Runner
from fleetyard.spec.models import Workload


@dataclass(frozen=True)
class OptimizerOptions:
    time_limit: float = 60.0  # seconds for the whole solve (both phases)
    mip_gap: float = 0.002  # stop when proven within 0.2% (HiGHS relative gap)
    threads: int | None = None
    seed: int = 0


def optimize(
    ctx: Context,
    runner: Runner,
    workloads: Sequence[Workload],
    *,
    ledger: Ledger | None = None,
    floors: Mapping[str, Mapping[int, int]] | None = None,
    options: OptimizerOptions | None = None,
    candidates: Sequence[Candidates] | None = None,
) -> Placement:
    """Place `workloads` (or prebuilt `candidates`) optimally against `ledger`."""
    t0 = time.perf_counter()
    cands = list(candidates) if candidates is not None else [build_candidates(ctx, runner, w) for w in workloads]
    built = build_model(ctx.compiled, ledger or ctx.compiled.full_ledger(), cands, floors)
    return solve_model(built, options or OptimizerOptions(), t0)


def solve_model(built: BuiltModel, opts: OptimizerOptions, t0: float | None = None) -> Placement:
    """Solve a built model (both phases) and read the placement out of it."""
    start = time.perf_counter() if t0 is None else t0
    lp = built.lp
    placement = Placement("optimizer", solver="highs", variables=lp.n_vars, constraints=lp.n_rows)
    placement.notes.extend(built.notes)
    budget = opts.time_limit - (time.perf_counter() - start)
    first = solve_highs(lp, time_limit=max(1.0, budget), mip_rel_gap=opts.mip_gap, threads=opts.threads,
                        seed=opts.seed)
    if first.x is None:
        placement.status = first.status
        placement.notes.append(f"HiGHS found no solution ({first.status})")
        placement.seconds = time.perf_counter() - start
        for wc in built.workloads:
            if wc.cand.need > 0:
                placement.missing[wc.cand.name] = wc.cand.need
        return placement
    x: FloatArray = first.x
    status = first.status
    penalties = np.asarray(built.penalty_cols, dtype=np.int64)
    if len(penalties) and (x[penalties] > 1e-6).any():
        # Phase 2: keep service at least at phase-1 level, minimize cost alone.
        saved = [(int(col), lp.ub[col], lp.cost[col]) for col in penalties]
        for col in penalties:
            lp.ub[col] = _pin(float(x[col]), bool(lp.integer[col]))
            lp.cost[col] = 0.0
        remaining = max(1.0, opts.time_limit - (time.perf_counter() - start))
        second = solve_highs(lp, time_limit=remaining, mip_rel_gap=opts.mip_gap, threads=opts.threads,
                             seed=opts.seed, start=x)
        for col, ub, cost in saved:
            lp.ub[col] = ub
            lp.cost[col] = cost
        if second.x is not None and model_cost(built, second.x) <= model_cost(built, x) + 1e-9:
            x = second.x
            status = second.status
            placement.bound = second.bound
            placement.bound_method = "HiGHS MIP bound, phase 2 (service pinned at the phase-1 level)"
        else:
            placement.notes.append(f"phase 2 ({second.status}) did not improve on phase 1")
    else:
        placement.bound = first.bound
        placement.bound_method = "HiGHS MIP bound (everything placed and served)"
    placement.objective = model_cost(built, x)
    if placement.bound is not None:
        placement.bound = min(placement.bound, placement.objective)
    placement.status = status
    extract(built, x, placement)
    placement.seconds = time.perf_counter() - start
    return placement


def _pin(value: float, integer: bool) -> float:
    return float(math.floor(value + 0.5)) if integer else value + 1e-7


def gap_of(placement: Placement) -> float:
    if placement.objective is None or placement.bound is None:
        return float("inf")
    return relative_gap(placement.objective, placement.bound)
