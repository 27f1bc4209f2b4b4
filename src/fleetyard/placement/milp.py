"""A mixed-integer linear model held in flat arrays, and its HiGHS backend.

The placement model is built once as triplets (row, column, value) and handed to
the solver in one call; building through a modelling layer would cost more time
than solving on a 20,000-workload fleet. `solve_highs` returns the incumbent, the
solver's proven lower bound and the row duals (for the LP relaxation).
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from fleetyard.placement.context import FloatArray

INF = float("inf")


class LinearModel:
    """min cost.x  s.t.  row_lo <= A x <= row_hi,  lb <= x <= ub,  x_j integer where marked."""

    def __init__(self) -> None:
        self.lb = array("d")
        self.ub = array("d")
        self.cost = array("d")
        self.integer = array("b")
        self.row_lo = array("d")
        self.row_hi = array("d")
        self.a_row = array("q")
        self.a_col = array("q")
        self.a_val = array("d")

    @property
    def n_vars(self) -> int:
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        return len(self.row_lo)

    def add_var(self, lb: float, ub: float, cost: float, integer: bool) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.cost.append(cost)
        self.integer.append(1 if integer else 0)
        return len(self.cost) - 1

    def add_row(self, cols: Sequence[int], vals: Sequence[float], lo: float, hi: float) -> int:
        r = len(self.row_lo)
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        self.a_row.extend([r] * len(cols))
        self.a_col.extend(cols)
        self.a_val.extend(vals)
        return r

    def csc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (self.n_vars, len(self.a_val))
        cached = getattr(self, "_csc", None)
        if cached is not None and cached[0] == key:
            return cached[1]  # type: ignore[no-any-return]
        out = self._csc_build()
        self._csc = (key, out)
        return out

    def _csc_build(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cols = np.frombuffer(self.a_col, dtype=np.int64) if len(self.a_col) else np.zeros(0, np.int64)
        rows = np.frombuffer(self.a_row, dtype=np.int64) if len(self.a_row) else np.zeros(0, np.int64)
        vals = np.frombuffer(self.a_val, dtype=np.float64) if len(self.a_val) else np.zeros(0)
        order = np.lexsort((rows, cols))
        start = np.searchsorted(cols[order], np.arange(self.n_vars + 1)).astype(np.int32)
        return start, rows[order].astype(np.int32), vals[order]


class _Fixed(LinearModel):
    """A model given directly as a column-wise matrix (`submodel`'s output)."""

    def __init__(self, csc: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        super().__init__()
        self._matrix = csc

    def csc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._matrix


def _arr(kind: str, values: np.ndarray) -> array:  # type: ignore[type-arg]
    out = array(kind)
    out.frombytes(np.ascontiguousarray(values).tobytes())
    return out


def submodel(model: LinearModel, free: np.ndarray, x: FloatArray) -> LinearModel:
    """The model over the `free` columns only, every other column fixed at its value in
    `x`: fixed columns move into the row bounds, rows without a free column are
    dropped (the caller's `x` satisfies them). A neighbourhood search solves these
    instead of the whole model with fixed bounds, so each sub-MIP's presolve and
    setup cost grow with the neighbourhood, not with the fleet."""
    start, index, value = model.csc()
    counts = np.diff(start)
    col_of = np.repeat(np.arange(model.n_vars), counts)
    fixed = np.where(free, 0.0, x)
    activity = np.bincount(index, weights=value * fixed[col_of], minlength=model.n_rows)
    keep = free[col_of]
    touched = np.zeros(model.n_rows, dtype=bool)
    touched[index[keep]] = True
    row_id = np.cumsum(touched) - 1
    sub_start = np.concatenate([[0], np.cumsum(counts[free])]).astype(np.int32)
    sub = _Fixed((sub_start, row_id[index[keep]].astype(np.int32), value[keep]))
    sub.cost = _arr("d", np.frombuffer(model.cost, dtype=np.float64)[free])
    sub.lb = _arr("d", np.frombuffer(model.lb, dtype=np.float64)[free])
    sub.ub = _arr("d", np.frombuffer(model.ub, dtype=np.float64)[free])
    sub.integer = _arr("b", np.frombuffer(model.integer, dtype=np.int8)[free])
    sub.row_lo = _arr("d", (np.frombuffer(model.row_lo, dtype=np.float64) - activity)[touched])
    sub.row_hi = _arr("d", (np.frombuffer(model.row_hi, dtype=np.float64) - activity)[touched])
    return sub


@dataclass
class Solution:
    status: str  # optimal | node-limit | time-limit (the clock) | infeasible | error
    x: FloatArray | None
    objective: float
    bound: float
    seconds: float
    row_duals: FloatArray | None = None

    @property
    def gap(self) -> float:
        if self.x is None:
            return INF
        return relative_gap(self.objective, self.bound)


def relative_gap(value: float, bound: float) -> float:
    if abs(value) < 1e-9:
        return 0.0 if abs(bound) < 1e-6 else INF
    return max(0.0, (value - bound) / abs(value))


def _new_highs() -> highspy.Highs:
    # highspy.Highs() prints its banner on construction before options can be set;
    # the core class does not (its callbacks are set with setCallback/startCallback).
    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    h = core() if core is not None else highspy.Highs()  # type: ignore[no-untyped-call]
    log = os.environ.get("FLEETYARD_HIGHS_LOG")  # a file to append HiGHS's own log to (diagnosis)
    h.setOptionValue("output_flag", bool(log))
    if log:
        h.setOptionValue("log_to_console", False)
        h.setOptionValue("log_file", log)
    return h


@dataclass(frozen=True)
class WorkLimits:
    """Deterministic stop rules for a MIP search, counted in solver work, not seconds.

    `max_nodes`: branch-and-bound nodes (HiGHS `mip_max_nodes`). HiGHS's search is
    deterministic for a model, its options and a seed, so a search stopped by a node
    count stops at the same point on an idle or a loaded machine; the clock
    (`time_limit`) stays only as a safety net, and a plan cut by it says so. (A stop
    counted in simplex iterations would be finer, but HiGHS reports no iteration
    count to its MIP callbacks, and calls them too rarely during root cut rounds.)"""

    max_nodes: int | None = 500


def solve_highs(
    model: LinearModel,
    *,
    integral: bool = True,
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-3,
    mip_abs_gap: float | None = None,
    threads: int | None = None,
    start: FloatArray | tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    limits: WorkLimits | None = None,
    bounds: tuple[FloatArray, FloatArray] | None = None,
) -> Solution:
    """Solve with HiGHS. With `integral=False` the LP relaxation is solved and duals kept.

    `start` is a full solution vector or a partial one `(indices, values)`, which HiGHS
    completes (it fixes the given values and solves for the rest) and uses as the
    first incumbent. `limits` stop the search deterministically (status "node-limit");
    `time_limit` is the clock's safety net (status "time-limit"). `bounds` replaces the
    column bounds (a neighbourhood search fixes the columns it does not free)."""
    t0 = time.perf_counter()
    h = _new_highs()
    limits = limits or WorkLimits()
    if limits.max_nodes is not None and integral:
        h.setOptionValue("mip_max_nodes", int(limits.max_nodes))
    h.setOptionValue("time_limit", float(max(time_limit, 0.1)))
    h.setOptionValue("random_seed", int(seed))
    del threads  # HiGHS sizes its scheduler once per process; changing it later makes run() fail
    if integral:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if mip_abs_gap is not None:
            h.setOptionValue("mip_abs_gap", float(mip_abs_gap))
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_vars
    lp.num_row_ = model.n_rows
    lp.col_cost_ = np.frombuffer(model.cost, dtype=np.float64)
    lp.col_lower_ = np.frombuffer(model.lb, dtype=np.float64) if bounds is None else bounds[0]
    lp.col_upper_ = np.frombuffer(model.ub, dtype=np.float64) if bounds is None else bounds[1]
    lp.row_lower_ = np.frombuffer(model.row_lo, dtype=np.float64)
    lp.row_upper_ = np.frombuffer(model.row_hi, dtype=np.float64)
    start_idx, index, value = model.csc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start_idx
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    if integral and any(model.integer):
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[i] for i in model.integer]
    h.passModel(lp)
    if start is not None and integral:
        if isinstance(start, tuple):
            idx, vals = start
            h.setSolution(len(idx), np.asarray(idx, dtype=np.int32), np.asarray(vals, dtype=np.float64))
        else:
            sol = highspy.HighsSolution()
            sol.col_value = list(map(float, start))
            sol.value_valid = True
            h.setSolution(sol)
    h.run()
    seconds = time.perf_counter() - t0
    status = h.getModelStatus()
    info = h.getInfo()
    ms = highspy.HighsModelStatus
    if status == ms.kOptimal:
        label = "optimal"
    elif status in (ms.kIterationLimit, ms.kSolutionLimit):  # mip_max_nodes ends as a solution limit
        label = "node-limit"
    elif status in (ms.kTimeLimit, ms.kInterrupt):
        label = "time-limit"
    elif status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
        label = "infeasible"
    else:
        label = "error"
    has_primal = info.primal_solution_status >= 2  # kSolutionStatusFeasible
    x = np.array(h.getSolution().col_value, dtype=np.float64) if has_primal else None
    objective = float(info.objective_function_value) if has_primal else INF
    if integral and any(model.integer):
        bound = float(info.mip_dual_bound)
    else:
        bound = objective if label == "optimal" else -INF
    if x is not None and integral and start is not None:
        true = float(np.frombuffer(model.cost, dtype=np.float64) @ x)
        if abs(true - objective) > 1e-7 * max(1.0, abs(objective)):
            # Seen with HiGHS 1.16: a MIP start "feasible in the reduced space" can come
            # back as the solution vector while the reported objective is the better
            # incumbent's. Solve again without the start (deterministic) rather than
            # return a vector that is not the solution.
            return solve_highs(model, integral=integral, time_limit=time_limit, mip_rel_gap=mip_rel_gap,
                               mip_abs_gap=mip_abs_gap, seed=seed, limits=limits, bounds=bounds)
    duals = None
    if not integral and label == "optimal":
        duals = np.array(h.getSolution().row_dual, dtype=np.float64)
    return Solution(label, x, objective, bound, seconds, duals)
