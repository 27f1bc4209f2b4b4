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
from typing import Protocol

import numpy as np

from fleetyard.placement.context import FloatArray
from fleetyard.placement.milp import INF, LinearModel, Solution, relative_gap
from fleetyard.placement.model import BuiltModel, extract, model_cost
from fleetyard.placement.result import Placement, StageResult

SERVICE_EPS = 1e-6  # numerical slack on the service row, in weighted GPUs
Hint = FloatArray | tuple[np.ndarray, np.ndarray] | None


class SolveFn(Protocol):
    def __call__(self, lp: LinearModel, abs_gap: float, hint: Hint) -> Solution: ...


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


def service_stage(value_short: float, bound_short: float, demand: float, status: str, method: str) -> StageResult:
    served = max(0.0, demand - value_short)
    upper = max(served, demand - max(0.0, bound_short))
    gap = 0.0 if upper <= 1e-9 else max(0.0, (upper - served) / upper)
    return StageResult("service", served, upper, gap, status, method, demand=demand)


def cost_stage(cost: float, bound: float, status: str, method: str) -> StageResult:
    lower = min(cost, max(0.0, bound))
    return StageResult("cost", cost, lower, relative_gap(cost, lower), status, method)


def solve_staged(built: BuiltModel, solve: SolveFn, mip_gap: float, service_tolerance: float,
                 hint: Hint, move_cost: FloatArray | None = None,
                 t0: float | None = None) -> tuple[Solution | None, list[StageResult]]:
    """Run both stages; returns the final solution (stage 2's, else stage 1's) and the stage reports.

    `solve(lp, abs_gap, hint)` runs the MIP solver; `move_cost` adds per-column costs
    to stage 2 only (re-plans)."""
    start = time.perf_counter() if t0 is None else t0
    weights = built.service_weights()
    demand = service_demand(built, weights)
    stage1 = with_objective(built.lp, weights)
    sol1 = solve(stage1, max(1e-6, mip_gap * demand), hint)
    if sol1.x is None:
        return None, []
    short = float(weights @ sol1.x)
    stages = [service_stage(short, sol1.bound, demand, sol1.status,
                            "HiGHS dual bound on the priority-weighted GPUs left short")]
    money = np.frombuffer(built.lp.cost, dtype=np.float64).copy()
    money[weights > 0] = 0.0
    money[built.disruption_cols] = 0.0
    if move_cost is not None:
        money = money + move_cost
    cap = short + service_tolerance * demand + SERVICE_EPS * max(1.0, demand)
    stage2 = with_objective(built.lp, money, (weights, cap))
    cost1 = float(money @ sol1.x)
    sol2 = solve(stage2, max(1e-6, mip_gap * max(1.0, cost1)), sol1.x)
    del start
    if sol2.x is None:  # keep the service plan; its cost is unproven
        stages.append(cost_stage(model_cost(built, sol1.x), 0.0, sol2.status, "none: the cost stage found no plan"))
        return sol1, stages
    final = sol2 if sol2.objective <= cost1 + 1e-9 else Solution(sol2.status, sol1.x, cost1, sol2.bound, 0.0)
    moved = float(move_cost @ final.x) if move_cost is not None else 0.0
    method = ("HiGHS dual bound on the hourly cost of any plan serving at least as much as the service stage"
              + (" (cost + move cost of this re-plan)" if move_cost is not None else ""))
    cost = model_cost(built, final.x)
    stages.append(cost_stage(cost + moved, final.bound, final.status, method))
    return final, stages


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


