"""The global optimizer: all workloads at once, with HiGHS (or CP-SAT for comparison).

One solve minimizes cost plus the shortfall penalty (see `model`), so as much work
as capacity allows is placed, higher priorities first, at the lowest cost. The
solver proves a lower bound LB on that objective; for every plan whose shortfall
penalty is no larger than the chosen plan's (it serves at least as much,
priority-weighted), cost >= LB - penalty(chosen), which is the cost bound reported.
The solver therefore stops on an *absolute* gap of `mip_gap` x the plan's cost, not
on a gap relative to the penalty-dominated objective.

The greedy plan is handed to the solver as its first incumbent, so the optimizer is
never worse than greedy. Time limits make a run stop early; without them the same
input always gives the same plan (HiGHS is deterministic for a seed and thread count).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetyard.placement.candidates import Candidates, build_candidates
from fleetyard.placement.context import FloatArray, Ledger
from fleetyard.placement.framework import Context
from fleetyard.placement.milp import LinearModel, Solution, WorkLimits, solve_highs
from fleetyard.placement.model import BuiltModel, build_model, extract, model_cost
from fleetyard.placement.movecost import MoveCosts
from fleetyard.placement.result import Placement
from fleetyard.placement.runner import Runner
from fleetyard.placement.stages import StageOptions, apply_stages, solve_staged
from fleetyard.placement.warmstart import encode
from fleetyard.spec.models import Workload

ATTEMPTS = 3  # re-solves from the incumbent when the cost gap is still above target


@dataclass(frozen=True)
class OptimizerOptions:
    time_limit: float = 60.0  # seconds for the whole solve
    mip_gap: float = 0.002  # target: cost proven within 0.2% of the best plan serving as much
    threads: int | None = None  # CP-SAT workers (HiGHS MIP search is single-threaded)
    seed: int = 0
    solver: str = "highs"  # highs | cpsat (OR-Tools, for comparison; needs the bench extra)
    # Stop as soon as the shortfall is proven minimal to within this many GPU-hours of
    # priority-0 work, ignoring cost precision: for questions like "can this loss be
    # absorbed?", where the cost is only reported, not optimized to the cent.
    service_only_gap: float | None = None
    # Deterministic stop rules (work, not seconds): on the benchmark fleets HiGHS found
    # its last improvement early and spent the rest on root cuts that raised only the
    # bound. `time_limit` is the clock's safety net only.
    limits: WorkLimits = field(default_factory=WorkLimits)
    # Serve first, then minimize cost with service held (`stages`); False: one solve of
    # cost + shortfall penalty (the weighted sum, used by failovers).
    staged: bool = True
    service_tolerance: float = 0.0  # share of the weighted demand the cost stage may give up
    exact_max_columns: int = 5_000  # up to this many columns each stage is one MIP; above, LP bound + LNS


def optimize(
    ctx: Context,
    runner: Runner,
    workloads: Sequence[Workload],
    *,
    ledger: Ledger | None = None,
    floors: Mapping[str, Mapping[int, int]] | None = None,
    options: OptimizerOptions | None = None,
    candidates: Sequence[Candidates] | None = None,
    start: Placement | None = None,
    sticky: Mapping[str, Mapping[int, int]] | None = None,
    moves: MoveCosts | None = None,
) -> Placement:
    """Place `workloads` (or prebuilt `candidates`) optimally against `ledger`.

    `start` (e.g. the greedy plan) is handed to the solver as its first incumbent;
    `floors` and `sticky` are as in `model.build_model`."""
    t0 = time.perf_counter()
    opts = options or OptimizerOptions()
    cands = list(candidates) if candidates is not None else [build_candidates(ctx, runner, w) for w in workloads]
    free = ledger or ctx.compiled.full_ledger()
    if not floors and not sticky and opts.solver == "highs":
        from fleetyard.placement.largescale import is_large, optimize_large

        if is_large(cands):
            return optimize_large(ctx, runner, free, cands, opts, start, moves)
    built = build_model(ctx.compiled, free, cands, floors, sticky=sticky, moves=moves)
    return solve_model(built, opts, t0, start, built.move_cost)


def solve_model(built: BuiltModel, opts: OptimizerOptions, t0: float | None = None,
                start_from: Placement | None = None, move_cost: FloatArray | None = None) -> Placement:
    """Solve a built model and read the placement out of it."""
    start = time.perf_counter() if t0 is None else t0
    lp = built.lp
    placement = Placement("optimizer", solver=opts.solver, variables=lp.n_vars, constraints=lp.n_rows)
    placement.notes.extend(built.notes)
    hint: FloatArray | tuple[np.ndarray, np.ndarray] | None = encode(built, start_from) if start_from else None
    if opts.staged and opts.service_only_gap is None and not built.disruption_cols:
        return _staged(built, opts, start, hint, placement, move_cost)
    # First guess of the plan's cost: the start's, else one dollar (refined below).
    scale = 1.0
    if start_from is not None and hint is not None:
        idx, val = hint
        cost = np.frombuffer(lp.cost, dtype=np.float64)
        scale = max(1.0, float(np.dot(cost[idx] * built.cost_mask[idx], val)))
    best: Solution | None = None
    for _ in range(ATTEMPTS):
        remaining = opts.time_limit - (time.perf_counter() - start)
        if best is not None and remaining < 1.0:
            break
        abs_gap = opts.mip_gap * scale
        if opts.service_only_gap is not None:
            abs_gap = max(abs_gap, opts.service_only_gap * built.unit)
        sol = _solve(lp, opts, max(1.0, remaining), abs_gap=abs_gap, start=hint)
        if sol.x is not None and (best is None or best.x is None or sol.objective <= best.objective + 1e-9):
            best = sol
        if best is None or best.x is None:
            break
        cost_now = model_cost(built, best.x)
        if (best.objective - best.bound <= opts.mip_gap * cost_now + 1e-9 or best.status != "optimal"
                or opts.service_only_gap is not None):
            break
        scale = max(1e-3, cost_now)
        hint = best.x
    if best is not None and best.status == "error":
        raise RuntimeError(f"{opts.solver} failed on a model of {lp.n_vars} columns and {lp.n_rows} rows")
    if best is None or best.x is None:
        placement.status = best.status if best else "error"
        placement.notes.append(f"{opts.solver} found no solution ({placement.status})")
        placement.seconds = time.perf_counter() - start
        for wc in built.workloads:
            if wc.cand.need > 0:
                placement.missing[wc.cand.name] = wc.cand.need
        return placement
    x = best.x
    cost_now = model_cost(built, x)
    penalty = best.objective - cost_now
    placement.objective = cost_now
    placement.penalty = penalty
    placement.bound = min(cost_now, max(0.0, best.bound - penalty))
    placement.objective_bound = min(best.objective, best.bound)
    placement.bound_method = (
        f"{opts.solver} bound on cost + shortfall penalty, minus this plan's penalty: no plan serving "
        "at least as much (priority-weighted) costs less"
    )
    placement.status = best.status
    extract(built, x, placement)
    placement.seconds = time.perf_counter() - start
    return placement


def _staged(built: BuiltModel, opts: OptimizerOptions, start: float,
            hint: FloatArray | tuple[np.ndarray, np.ndarray] | None, placement: Placement,
            move_cost: FloatArray | None) -> Placement:
    stage_opts = StageOptions(mip_gap=opts.mip_gap, service_tolerance=opts.service_tolerance, limits=opts.limits,
                              time_limit=max(1.0, opts.time_limit - (time.perf_counter() - start)), seed=opts.seed,
                              exact_max_columns=opts.exact_max_columns)
    final, stages = solve_staged(built, stage_opts, hint, move_cost)
    if final is not None and final.status == "error":
        raise RuntimeError(f"{opts.solver} failed on a model of {built.lp.n_vars} columns and {built.lp.n_rows} rows")
    if final is None or final.x is None:
        placement.status = "error"
        placement.notes.append(f"{opts.solver} found no solution")
        for wc in built.workloads:
            if wc.cand.need > 0:
                placement.missing[wc.cand.name] = wc.cand.need
    else:
        apply_stages(built, final, stages, placement)
        if any(s.status == "time-limit" for s in stages):
            placement.notes.append("stopped by the clock's safety net (--time-limit): this plan may differ on a "
                                   "faster or slower machine")
    placement.seconds = time.perf_counter() - start
    return placement


def _solve(lp: LinearModel, opts: OptimizerOptions, time_limit: float, abs_gap: float,
           start: FloatArray | tuple[np.ndarray, np.ndarray] | None = None) -> Solution:
    if opts.solver == "cpsat":
        from fleetyard.placement.cpsat import solve_cpsat

        return solve_cpsat(lp, time_limit=time_limit, workers=opts.threads or 2, mip_abs_gap=abs_gap,
                           seed=opts.seed)
    return solve_highs(lp, time_limit=time_limit, mip_rel_gap=1e-9, mip_abs_gap=abs_gap,
                       threads=opts.threads, seed=opts.seed, start=start, limits=opts.limits)
