"""The staged objective: serve first, then save money, each stage with its own proof.

Stage 1 (service) minimizes the priority-weighted GPUs of demand left short - in
the units of `BuiltModel.service_weights`: (1 + priority) x GPUs per replica for
every replica short of `replicas.min` (jobs: their size), every whole replica of a
region's demand left unserved and every site short of `spread.min_sites`, plus 1%
of a replica per request/s unserved so that partly served regions count - and
reports it as *service*: priority-weighted GPU demand served = demand - short. The
solver's dual bound on the shortfall is an upper bound on the service of any plan.

Stage 2 (cost) keeps service at least as good as stage 1's plan (to within
`service_tolerance` of the weighted demand) and minimizes the hourly cost (plus the
move cost of a re-plan, see `moves`). Its dual bound is a lower bound on the cost of
every plan that serves as much.

Each stage stops on its own gap, on deterministic work limits (`milp.WorkLimits`),
or on the clock's safety net, and says which.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from fleetyard.placement.context import FloatArray
from fleetyard.placement.lns import LnsOptions, improve, rins
from fleetyard.placement.milp import INF, LinearModel, Solution, WorkLimits, relative_gap, solve_highs
from fleetyard.placement.model import BuiltModel, extract, model_cost
from fleetyard.placement.result import Placement, StageResult

SERVICE_EPS = 1e-6  # numerical slack on the service row, in weighted GPUs
Hint = FloatArray | tuple[np.ndarray, np.ndarray] | None


def with_objective(lp: LinearModel, cost: FloatArray, row: tuple[FloatArray, float] | None = None) -> LinearModel:
    """A copy of `lp` with another objective and, optionally, one more row `w.x <= hi`."""
    out = LinearModel()
    out.lb, out.ub, out.integer = lp.lb[:], lp.ub[:], lp.integer[:]
    out.row_lo, out.row_hi = lp.row_lo[:], lp.row_hi[:]
    out.a_row, out.a_col, out.a_val = lp.a_row[:], lp.a_col[:], lp.a_val[:]
    out.cost.frombytes(np.ascontiguousarray(cost, dtype=np.float64).tobytes())
    if row is not None:
        weights, hi = row
        cols = np.flatnonzero(weights)
        out.add_row(cols.tolist(), weights[cols].tolist(), -INF, hi)
    return out


def service_demand(built: BuiltModel, weights: FloatArray) -> float:
    """Priority-weighted GPU demand: the shortfall if nothing at all were placed."""
    ub = np.frombuffer(built.lp.ub, dtype=np.float64)
    finite = np.isfinite(ub)
    return float(weights[finite] @ ub[finite])


def service_stage(value_short: float, bound_short: float, demand: float, status: str, method: str,
                  seconds: float = 0.0) -> StageResult:
    served = max(0.0, demand - value_short)
    upper = max(served, demand - max(0.0, bound_short))
    gap = 0.0 if upper <= 1e-9 else max(0.0, (upper - served) / upper)
    return StageResult("service", served, upper, gap, status, method, demand=demand, seconds=seconds)


def cost_stage(cost: float, bound: float, status: str, method: str, seconds: float = 0.0) -> StageResult:
    lower = min(cost, max(0.0, bound))
    return StageResult("cost", cost, lower, relative_gap(cost, lower), status, method, seconds=seconds)


@dataclass(frozen=True)
class StageOptions:
    mip_gap: float = 0.002
    service_tolerance: float = 0.0
    limits: WorkLimits = field(default_factory=WorkLimits)
    lns: LnsOptions = field(default_factory=LnsOptions)
    exact_max_columns: int = 5_000  # up to this size each stage is one HiGHS MIP (it proves small fleets optimal)
    time_limit: float = 60.0  # the clock's safety net for both stages together
    seed: int = 0


@dataclass
class _Stage:
    x: FloatArray
    bound: float
    status: str
    seconds: float
    sub_mips: int = 0


def complete(lp: LinearModel, hint: Hint, deadline: float, seed: int) -> FloatArray | None:
    """A full solution vector from a partial start (replicas, routes, shortfalls): the
    given columns fixed, HiGHS solves for the rest (indicators, slacks)."""
    if hint is None:
        return None
    if not isinstance(hint, tuple):
        return np.asarray(hint, dtype=np.float64)
    idx, val = hint
    lo = np.frombuffer(lp.lb, dtype=np.float64).copy()
    hi = np.frombuffer(lp.ub, dtype=np.float64).copy()
    idx = np.asarray(idx, dtype=np.int64)
    lo[idx] = np.clip(np.asarray(val, dtype=np.float64), lo[idx], hi[idx])
    hi[idx] = lo[idx]
    sol = solve_highs(lp, time_limit=max(0.5, deadline - time.perf_counter()), mip_rel_gap=1e-6, seed=seed,
                      limits=WorkLimits(max_nodes=200), bounds=(lo, hi))
    return sol.x


def _run_stage(built: BuiltModel, lp: LinearModel, x0: FloatArray | None, abs_gap: float, opts: StageOptions,
               deadline: float) -> _Stage | None:
    """Best plan and best bound for one stage: one HiGHS MIP on small models; on bigger
    ones the LP relaxation for the bound and the neighbourhood search for the plan."""
    t0 = time.perf_counter()
    left = max(0.5, deadline - t0)
    if lp.n_vars <= opts.exact_max_columns or built.compiled is None or x0 is None:
        sol = solve_highs(lp, time_limit=left, mip_rel_gap=1e-9, mip_abs_gap=abs_gap, start=x0, seed=opts.seed,
                          limits=opts.limits)
        if sol.x is None:
            return None
        return _Stage(sol.x, sol.bound, sol.status, time.perf_counter() - t0)
    relaxed = solve_highs(lp, integral=False, time_limit=left, seed=opts.seed)
    bound = relaxed.objective if relaxed.status == "optimal" else -INF
    found = improve(built, lp, x0, built.compiled, opts.lns, deadline, abs_gap=abs_gap)
    x, rinsed = found.x, False
    if relaxed.x is not None and relaxed.status == "optimal" and not found.clock_cut:
        # after the region search, so a stage is never worse than the search alone
        x, rinsed = rins(built, lp, found.x, relaxed.x, opts.lns, deadline, abs_gap)
    status = "time-limit" if found.clock_cut or relaxed.status == "time-limit" else "lns"
    cost = np.frombuffer(lp.cost, dtype=np.float64)
    if cost @ x - bound <= abs_gap:
        status = "optimal"
    return _Stage(x, bound, status, time.perf_counter() - t0, found.sub_mips + int(rinsed))


def solve_staged(built: BuiltModel, opts: StageOptions, hint: Hint, move_cost: FloatArray | None = None,
                 t0: float | None = None) -> tuple[Solution | None, list[StageResult]]:
    """Run both stages; returns the final solution (stage 2's) and the stage reports.

    `move_cost` adds per-column costs to stage 2 only (re-plans, see `movecost`)."""
    start = time.perf_counter() if t0 is None else t0
    deadline = start + opts.time_limit
    weights = built.service_weights()
    demand = service_demand(built, weights)
    stage1 = with_objective(built.lp, weights)
    x0 = complete(stage1, hint, deadline, opts.seed)
    one = _run_stage(built, stage1, x0, max(1e-6, opts.mip_gap * demand), opts, deadline)
    if one is None:
        return None, []
    short = float(weights @ one.x)
    how = "HiGHS MIP dual bound" if one.sub_mips == 0 else "LP relaxation"
    stages = [service_stage(short, one.bound, demand, one.status,
                            f"{how} on the priority-weighted GPUs left short", one.seconds)]
    money = np.frombuffer(built.lp.cost, dtype=np.float64).copy()
    money[weights > 0] = 0.0
    money[built.disruption_cols] = 0.0
    if move_cost is not None:
        money = money + move_cost
    cap = short + opts.service_tolerance * demand + SERVICE_EPS * max(1.0, demand)
    stage2 = with_objective(built.lp, money, (weights, cap))
    x1 = np.append(one.x, 0.0)[: stage2.n_vars] if stage2.n_vars > len(one.x) else one.x
    cost1 = float(money @ x1)
    two = _run_stage(built, stage2, x1, max(1e-6, opts.mip_gap * max(1.0, cost1)), opts, deadline)
    if two is None or float(money @ two.x) > cost1 + 1e-9:
        two = _Stage(x1, two.bound if two else 0.0, two.status if two else "error", two.seconds if two else 0.0)
    how = "HiGHS MIP dual bound" if two.sub_mips == 0 else "LP relaxation"
    method = (f"{how} on the hourly cost of any plan serving at least as much as the service stage"
              + (" (cost + move cost of this re-plan)" if move_cost is not None else ""))
    moved = float(move_cost @ two.x) if move_cost is not None else 0.0
    cost = model_cost(built, two.x)
    stages.append(cost_stage(cost + moved, two.bound, two.status, method, two.seconds))
    return Solution(two.status, two.x, cost + moved, two.bound, time.perf_counter() - start), stages


def apply_stages(built: BuiltModel, final: Solution, stages: list[StageResult], placement: Placement) -> None:
    """Fill `placement` from the staged solution (the weighted-sum fields stay filled for the contract)."""
    x = final.x
    assert x is not None
    weights = built.service_weights()
    cost = model_cost(built, x)
    placement.objective = cost
    placement.penalty = float(weights @ x) * built.unit
    cost_result = stages[-1] if stages[-1].stage == "cost" else None
    lower = cost_result.bound if cost_result is not None else 0.0
    placement.bound = min(cost, lower)
    service = stages[0]
    placement.objective_bound = min(cost + placement.penalty,
                                    lower + max(0.0, service.demand - service.bound) * built.unit)
    placement.bound_method = stages[-1].method
    placement.status = next((s.status for s in stages if s.status != "optimal"), "optimal")
    placement.stages = list(stages)
    extract(built, x, placement)


