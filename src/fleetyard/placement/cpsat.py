"""The same placement model solved with OR-Tools CP-SAT, for comparison with HiGHS.

CP-SAT works on integers only, so continuous columns (routed requests/s, shortfall
slacks) are carried in units of 1/CONTINUOUS_SCALE, and every row is scaled by
ROW_SCALE and rounded to integer coefficients (power in watts, rps in centi-rps).
Rounding is conservative on the right-hand side (a <= row rounds down), so a CP-SAT
plan never exceeds a capacity. OR-Tools is an optional dependency (`.[bench]`).
"""

from __future__ import annotations

import math
import time

import numpy as np

from fleetyard.placement.milp import INF, LinearModel, Solution

CONTINUOUS_SCALE = 100
ROW_SCALE = 1000
BIG = 10**12


def solve_cpsat(model: LinearModel, *, time_limit: float = 60.0, workers: int = 2,
                mip_abs_gap: float = 1e-3, seed: int = 0) -> Solution:
    try:
        from ortools.sat.python import cp_model
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise RuntimeError("CP-SAT needs OR-Tools: pip install 'fleetyard[bench]'") from exc
    t0 = time.perf_counter()
    m = cp_model.CpModel()
    n = model.n_vars
    scale = np.where(np.frombuffer(model.integer, dtype=np.int8) == 1, 1, CONTINUOUS_SCALE)
    xs = []
    for j in range(n):
        lo, hi = model.lb[j], model.ub[j]
        lo_i = -BIG if lo == -INF else math.ceil(lo * scale[j] - 1e-9)
        hi_i = BIG if hi == INF else math.floor(hi * scale[j] + 1e-9)
        xs.append(m.new_int_var(lo_i, max(lo_i, hi_i), ""))
    rows = np.frombuffer(model.a_row, dtype=np.int64) if len(model.a_row) else np.zeros(0, np.int64)
    cols = np.frombuffer(model.a_col, dtype=np.int64) if len(model.a_col) else np.zeros(0, np.int64)
    vals = np.frombuffer(model.a_val, dtype=np.float64) if len(model.a_val) else np.zeros(0)
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(model.n_rows + 1))
    for r in range(model.n_rows):
        idx = order[bounds[r]:bounds[r + 1]]
        coeffs = [round(float(vals[k]) * ROW_SCALE / scale[cols[k]]) for k in idx]
        expr = sum(c * xs[int(cols[k])] for c, k in zip(coeffs, idx, strict=True) if c != 0)
        lo, hi = model.row_lo[r], model.row_hi[r]
        lo_i = -BIG if lo == -INF else math.ceil(lo * ROW_SCALE - 1e-6)
        hi_i = BIG if hi == INF else math.floor(hi * ROW_SCALE + 1e-6)
        if isinstance(expr, int):
            continue
        m.add_linear_constraint(expr, lo_i, hi_i)
    cost = np.frombuffer(model.cost, dtype=np.float64) / scale
    nz = np.flatnonzero(cost)
    m.minimize(cp_model.LinearExpr.weighted_sum([xs[j] for j in nz], [float(cost[j]) for j in nz]))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.5, time_limit - (time.perf_counter() - t0))
    solver.parameters.num_workers = workers
    solver.parameters.absolute_gap_limit = mip_abs_gap
    solver.parameters.random_seed = seed
    status = solver.solve(m)
    seconds = time.perf_counter() - t0
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        x = np.array([solver.value(v) for v in xs], dtype=np.float64) / scale
        label = "optimal" if status == cp_model.OPTIMAL else "time-limit"
        return Solution(label, x, float(solver.objective_value), float(solver.best_objective_bound), seconds)
    label = "infeasible" if status == cp_model.INFEASIBLE else "time-limit"
    return Solution(label, None, INF, -INF, seconds)
