"""The restricted schedule MILP: each job picks one of its candidate patterns, or none.

    min  sum_c value_c x_c + sum_j penalty_j u_j
    s.t. sum_{c of j} x_c + u_j = 1                           every job j
         sum_{c on pool p, running in t} gpus_c x_c <= free GPUs of p      (p, t)
         sum_{c at site s, running in t} kw_c x_c   <= free kW of s        (s, t)
         x binary, 0 <= u <= 1

Only capacity rows that can bind are written: a (pool, slot) or (site, slot) whose
demand, if every job took its largest candidate there, stays within the headroom can
never be exceeded. With no row left the jobs are independent and each job's best
candidate is optimal; the caller skips the solver then.

HiGHS solves it under a node limit (deterministic work), warm-started from the better
of the greedy and the run-now schedules; the clock is only a safety net.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetyard.energy.jobs import Job
from fleetyard.energy.patterns import Candidate
from fleetyard.energy.slots import Headroom
from fleetyard.placement.milp import LinearModel, WorkLimits, solve_highs

__all__ = ["PatternModel", "PatternResult", "binding_rows", "solve_patterns"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _arr(kind: str, values: np.ndarray) -> array:  # type: ignore[type-arg]
    out = array(kind)
    out.frombytes(np.ascontiguousarray(values).tobytes())
    return out


class _Csc(LinearModel):
    def __init__(self, csc: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        super().__init__()
        self._matrix = csc

    def csc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._matrix


@dataclass(frozen=True)
class PatternModel:
    flat: list[Candidate]
    job_of: IntArray
    pool_keys: IntArray  # binding (pool * slots + t), sorted
    site_keys: IntArray  # binding (site * slots + t), sorted

    @property
    def n_capacity_rows(self) -> int:
        return len(self.pool_keys) + len(self.site_keys)


@dataclass(frozen=True)
class PatternResult:
    chosen: dict[int, Candidate]
    status: str
    objective: float
    bound: float  # HiGHS's dual bound on the restricted model
    seconds: float
    columns: int
    rows: int


def _keys(jobs: Sequence[Job], flat: Sequence[Candidate], n_slots: int, pool_site: IntArray
          ) -> tuple[IntArray, IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    """Per candidate slot: column, pool key, site key, job, GPUs, kW."""
    lens = np.array([len(c.slots) for c in flat], dtype=np.int64)
    col = np.repeat(np.arange(len(flat), dtype=np.int64), lens)
    slots = np.concatenate([c.slots for c in flat]) if flat else np.zeros(0, dtype=np.int64)
    pools = np.array([jobs[c.job].pools[c.option] for c in flat], dtype=np.int64)
    job = np.array([c.job for c in flat], dtype=np.int64)
    gpus = np.array([jobs[c.job].gpus for c in flat], dtype=np.float64)
    kw = np.array([jobs[c.job].kw[c.option] for c in flat], dtype=np.float64)
    pool_key = pools[col] * n_slots + slots
    site_key = pool_site[pools][col] * n_slots + slots
    return col, pool_key, site_key, job[col], gpus[col], kw[col]


def _binding(keys: IntArray, job: IntArray, amount: FloatArray, limit: FloatArray, n_slots: int) -> IntArray:
    """Keys whose demand (each job counted once, at its largest amount) exceeds the limit."""
    if not len(keys):
        return keys
    span = int(keys.max()) + 1
    pair = job * span + keys
    order = np.lexsort((-amount, pair))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair[order][1:] != pair[order][:-1]
    k, a = keys[order][first], amount[order][first]
    uniq, inv = np.unique(k, return_inverse=True)
    demand = np.bincount(inv, weights=a)
    out: IntArray = uniq[demand > limit[uniq // n_slots] + 1e-9]
    return out


def binding_rows(jobs: Sequence[Job], cands: Sequence[Sequence[Candidate]], headroom: Headroom,
                 pool_site: IntArray, n_slots: int) -> PatternModel:
    flat = [c for cs in cands for c in cs]
    _, pool_key, site_key, job, gpus, kw = _keys(jobs, flat, n_slots, pool_site)
    pk = _binding(pool_key, job, gpus, headroom.gpus.astype(np.float64), n_slots)
    sk = _binding(site_key, job, kw, headroom.kw, n_slots)
    job_of = np.array([c.job for c in flat], dtype=np.int64)
    return PatternModel(flat, job_of, pk, sk)


def solve_patterns(jobs: Sequence[Job], pm: PatternModel, headroom: Headroom, pool_site: IntArray,
                   n_slots: int, penalty: FloatArray, start: dict[int, Candidate],
                   limits: WorkLimits, time_limit: float) -> PatternResult:
    flat = pm.flat
    n_c, n_j = len(flat), len(jobs)
    col, pool_key, site_key, _, gpus, kw = _keys(jobs, flat, n_slots, pool_site)
    rows = [pm.job_of]
    cols = [np.arange(n_c, dtype=np.int64)]
    vals = [np.ones(n_c)]
    rows.append(np.arange(n_j, dtype=np.int64))  # u_j in its job's row
    cols.append(n_c + np.arange(n_j, dtype=np.int64))
    vals.append(np.ones(n_j))
    hi = [np.ones(n_j)]
    lo = [np.ones(n_j)]
    base = n_j
    for keys, binding, amount, limit in ((pool_key, pm.pool_keys, gpus, headroom.gpus.astype(np.float64)),
                                         (site_key, pm.site_keys, kw, headroom.kw)):
        if len(binding):
            pos = np.searchsorted(binding, keys)
            pos = np.minimum(pos, len(binding) - 1)
            hit = binding[pos] == keys
            rows.append(base + pos[hit])
            cols.append(col[hit])
            vals.append(amount[hit])
            hi.append(limit[binding // n_slots])
            lo.append(np.full(len(binding), -np.inf))
        base += len(binding)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    order = np.lexsort((r, c))
    n_vars = n_c + n_j
    csc_start = np.searchsorted(c[order], np.arange(n_vars + 1)).astype(np.int32)
    model = _Csc((csc_start, r[order].astype(np.int32), v[order]))
    model.cost = _arr("d", np.concatenate([np.array([x.value for x in flat]), penalty]))
    model.lb = _arr("d", np.zeros(n_vars))
    model.ub = _arr("d", np.ones(n_vars))
    model.integer = _arr("b", np.concatenate([np.ones(n_c, dtype=np.int8), np.zeros(n_j, dtype=np.int8)]))
    model.row_lo = _arr("d", np.concatenate(lo))
    model.row_hi = _arr("d", np.concatenate(hi))
    x0 = np.zeros(n_vars)
    index = {cand.key: k for k, cand in enumerate(flat)}
    for j in range(n_j):
        cand = start.get(j)
        if cand is None:
            x0[n_c + j] = 1.0
        else:
            x0[index[cand.key]] = 1.0
    sol = solve_highs(model, start=x0, limits=limits, time_limit=time_limit, mip_rel_gap=1e-6)
    chosen: dict[int, Candidate] = {}
    if sol.x is not None:
        for k in np.flatnonzero(sol.x[:n_c] > 0.5).tolist():
            chosen[flat[k].job] = flat[k]
    return PatternResult(chosen, sol.status, sol.objective, sol.bound, sol.seconds, n_vars, base)
