"""Large-neighbourhood search: better plans from small sub-MIPs over a part of the fleet.

HiGHS on the whole placement model spends its time in root cut rounds (33 s at 50
sites x 500 workloads, more than 90 s at 200 x 3,000) before it branches or runs its
own neighbourhood heuristics, so on mid-size and big fleets it rarely improves the
plan it starts from. This search does what its sub-MIP heuristics would do, on
purpose: free the columns of one group of workloads - those that compete for the
sites nearest one user region - fix every other workload where the incumbent put it,
and solve that small MIP (from the incumbent, node-limited) for the stage's
objective. A better sub-plan is kept; the next group starts from it. The groups, their
order and every stop rule count work, not seconds, so a run is repeatable for a
given fleet, seed and budget; the clock (`deadline`) is only a safety net, and the
result says when it cut the search.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fleetyard.placement.context import Compiled, FloatArray
from fleetyard.placement.milp import LinearModel, WorkLimits, solve_highs, submodel
from fleetyard.placement.model import BuiltModel

HOME_POOLS = 4  # a workload belongs to the groups of its incumbent sites and of its 4 cheapest pools
RINS_AGREE = 0.01  # an integer column agrees with the LP when they differ by less than this


@dataclass(frozen=True)
class LnsOptions:
    group_workloads: int = 100  # at most this many workloads free in one sub-MIP
    rounds: int = 2  # passes over all groups (a pass that improves nothing ends the search)
    max_nodes: int = 50  # per sub-MIP
    max_sub_mips: int = 30  # per stage: the search's work budget
    rins_nodes: int = 100  # node limit of the relaxation-induced sub-MIP (0: none)
    rins_max_columns: int = 6_000  # free columns in it, at most (12,000 took 86 s at 200 x 3,000, tight)
    seed: int = 0


@dataclass
class LnsResult:
    x: FloatArray
    objective: float
    sub_mips: int = 0
    improved: int = 0
    clock_cut: bool = False  # the safety net ended the search early
    seconds: float = 0.0


def groups(built: BuiltModel, compiled: Compiled, x: FloatArray, size: int) -> list[list[int]]:
    """Workload groups (indices into `built.workloads`), one or more per user region.

    A site belongs to the region nearest it; a workload to the regions of the sites it
    runs on in `x` and of its HOME_POOLS cheapest candidate pools. Each region's
    workloads, highest priority first, are cut into groups of `size`."""
    nearest = np.argmin(compiled.rtt, axis=1) if compiled.rtt.size else np.zeros(compiled.n_sites, dtype=np.int64)
    members: dict[int, list[int]] = defaultdict(list)
    for k, wc in enumerate(built.workloads):
        cand = wc.cand
        if not wc.pool_cols:
            continue
        regions: set[int] = set()
        for col, p in wc.pool_cols:
            if x[col] > 0.5:
                regions.add(int(nearest[int(compiled.pool_site[p])]))
        cheapest = np.argsort(cand.cost, kind="stable")[:HOME_POOLS]
        regions.update(int(nearest[int(s)]) for s in cand.sites[cheapest])
        for g in regions:
            members[g].append(k)
    out: list[list[int]] = []
    for g in sorted(members):
        ks = sorted(members[g], key=lambda k: (-built.workloads[k].cand.w.spec.priority,
                                               built.workloads[k].cand.name))
        out.extend(ks[i:i + size] for i in range(0, len(ks), size))
    return out


def improve(built: BuiltModel, lp: LinearModel, x0: FloatArray, compiled: Compiled, options: LnsOptions,
            deadline: float, abs_gap: float = 1e-6) -> LnsResult:
    """Improve `x0` for `lp`'s objective (the model of `built`, maybe with another objective
    and an extra row) by solving one sub-MIP per workload group."""
    t0 = time.perf_counter()
    cost = np.frombuffer(lp.cost, dtype=np.float64)
    lb = np.frombuffer(lp.lb, dtype=np.float64)
    ub = np.frombuffer(lp.ub, dtype=np.float64)
    integer = np.frombuffer(lp.integer, dtype=np.int8) > 0
    x = x0.copy()
    best = float(cost @ x)
    result = LnsResult(x, best)
    limits = WorkLimits(max_nodes=options.max_nodes)
    for _ in range(options.rounds):
        gained = False
        for group in groups(built, compiled, x, options.group_workloads):
            if result.sub_mips >= options.max_sub_mips:
                break
            if time.perf_counter() > deadline:
                result.clock_cut = True
                break
            free = _free_columns(built, group, lp.n_vars)
            at = np.where(integer, np.rint(x), x)
            sub = submodel(lp, free, at)
            sol = solve_highs(sub, time_limit=max(0.5, deadline - time.perf_counter()), mip_rel_gap=1e-9,
                              mip_abs_gap=abs_gap, start=np.clip(at[free], lb[free], ub[free]), seed=options.seed,
                              limits=limits)
            result.sub_mips += 1
            if sol.x is None:
                continue
            trial = at.copy()
            trial[free] = sol.x
            value = float(cost @ trial)
            if value < best - 1e-7 * max(1.0, abs(best)):
                x, best = trial, value
                result.improved += 1
                gained = True
        if not gained or result.clock_cut:
            break
    result.x, result.objective = x, best
    result.seconds = time.perf_counter() - t0
    return result


def rins(built: BuiltModel, lp: LinearModel, x0: FloatArray, relaxed: FloatArray, options: LnsOptions,
         deadline: float, abs_gap: float = 1e-6) -> tuple[FloatArray, bool]:
    """The relaxation-induced neighbourhood (RINS): fix every integer column on which the
    incumbent and the LP optimum agree, free the rest and the continuous columns of the
    workloads concerned, and solve that sub-MIP from the incumbent, node-limited. The
    LP optimum points at the part of the plan worth changing: at 50 x 500 one such
    sub-MIP (8,371 of 17,234 columns free, 200 nodes) cut the cost stage from $6,077 to
    $1,770/h, where 30 region sub-MIPs reached $2,090 (docs/benchmarks.md). On big
    models the workloads that disagree most (in cost-weighted distance from the LP) are
    freed first, up to `rins_max_columns`. Returns (x, improved)."""
    if options.rins_nodes <= 0:
        return x0, False
    cost = np.frombuffer(lp.cost, dtype=np.float64)
    lb = np.frombuffer(lp.lb, dtype=np.float64)
    ub = np.frombuffer(lp.ub, dtype=np.float64)
    integer = np.frombuffer(lp.integer, dtype=np.int8) > 0
    at = np.where(integer, np.rint(x0), x0)
    differs = integer & (np.abs(relaxed - at) >= RINS_AGREE)
    score = np.abs(relaxed - at) * (np.abs(cost) + 1e-9) * differs
    ranked = []
    for k, wc in enumerate(built.workloads):
        a, b = wc.cols
        if b > a and differs[a:b].any():
            ranked.append((-float(score[a:b].sum()), k))
    ranked.sort()
    free = np.zeros(lp.n_vars, dtype=bool)
    n_free = 0
    for _, k in ranked:
        a, b = built.workloads[k].cols
        cols = differs[a:b] | ~integer[a:b]
        if n_free and n_free + int(cols.sum()) > options.rins_max_columns:
            continue
        free[a:b] |= cols
        n_free += int(cols.sum())
    tail = len(built.workloads) and built.workloads[-1].cols[1]
    free[tail:] = ~integer[tail:]  # columns after the workloads' (the stage's extra rows use none)
    if not free.any():
        return x0, False
    sub = submodel(lp, free, at)
    sol = solve_highs(sub, time_limit=max(0.5, deadline - time.perf_counter()), mip_rel_gap=1e-9,
                      mip_abs_gap=abs_gap, start=np.clip(at[free], lb[free], ub[free]), seed=options.seed,
                      limits=WorkLimits(max_nodes=options.rins_nodes))
    if sol.x is None:
        return x0, False
    trial = at.copy()
    trial[free] = sol.x
    if float(cost @ trial) < float(cost @ x0) - 1e-7 * max(1.0, abs(float(cost @ x0))):
        return trial, True
    return x0, False


def _free_columns(built: BuiltModel, group: Sequence[int], n_vars: int) -> np.ndarray:
    mask = np.zeros(n_vars, dtype=bool)
    for k in group:
        a, b = built.workloads[k].cols
        mask[a:b] = True
    return mask
