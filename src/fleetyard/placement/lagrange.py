"""Lagrangian relaxation of the capacity rows: a proven bound, and prices for the plan.

Price each pool's GPUs at pi_p >= 0 and each site's kW at mu_s >= 0 and move the
capacity rows into the objective. The problem falls apart into one small problem
per workload - "place yourself at these prices, or stay short at your penalty" -
and for *any* prices

    L(pi, mu) = sum_w LB_w(pi, mu) - sum_p pi_p GPUs_p - sum_s mu_s kW_s  <=  optimum.

Each LB_w is a lower bound of workload w's own problem: it drops the side rules
(spread, one SKU, per-pool bounds), which only lowers it, and keeps what makes it
tight - whole replicas, the cheapest priced pool within each region's SLO, and the
choice to leave work short at its penalty. `subgradient` searches for the prices
that make L largest (the Polyak step towards a known plan's value); those prices
also tell the primal heuristic which pools are really scarce.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from fleetyard.placement.context import FloatArray, IntArray
from fleetyard.placement.flat import GANG, INFERENCE, JOB, Flat, ceil_replicas


def _segment_min(values: FloatArray, starts: IntArray) -> FloatArray:
    """Minimum of each segment `values[starts[i]:starts[i+1]]`; +inf for empty ones."""
    out = np.full(len(starts) - 1, np.inf)
    nonempty = starts[1:] > starts[:-1]
    if values.size and nonempty.any():
        out[nonempty] = np.minimum.reduceat(values, starts[:-1][nonempty])
    return out


def _segment_argmin(values: FloatArray, starts: IntArray, mins: FloatArray, seg: IntArray) -> IntArray:
    """Index of the first minimum of each segment; -1 for empty ones (`seg`: each entry's
    segment, precomputed once per `Flat`)."""
    hits = np.flatnonzero(values <= mins[seg])
    out = np.full(len(starts) - 1, -1, dtype=np.int64)
    segs, first = np.unique(seg[hits], return_index=True)
    out[segs] = hits[first]
    return out


@dataclass(frozen=True)
class Evaluation:
    value: float  # L(pi, mu)
    gpus_used: FloatArray  # per pool, by the relaxed solution
    kw_used: FloatArray  # per site


def evaluate(flat: Flat, cap_gpus: FloatArray, cap_kw: FloatArray, pi: FloatArray, mu: FloatArray) -> Evaluation:
    n_w = flat.n_workloads
    priced = flat.cost + flat.gpus * pi[flat.pool] + flat.power * mu[flat.site]
    wmin = _segment_min(priced, flat.starts)
    best = np.minimum(wmin, flat.value)
    lb = flat.need * best
    gpus_used = np.zeros(len(cap_gpus))
    kw_used = np.zeros(len(cap_kw))
    jobs = np.flatnonzero(((flat.kind == GANG) | (flat.kind == JOB)) & (wmin < flat.value))
    if len(jobs):
        arg = _segment_argmin(priced, flat.starts, wmin, flat.seg)[jobs]
        np.add.at(gpus_used, flat.pool[arg], flat.need[jobs] * flat.gpus[arg])
        np.add.at(kw_used, flat.site[arg], flat.need[jobs] * flat.power[arg])
    if len(flat.reg_w):
        rvals = priced[flat.reg_idx]
        rmin = _segment_min(rvals, flat.reg_starts)
        m = np.minimum(rmin, flat.value[flat.reg_w])
        rpr = flat.rpr[flat.reg_w]
        fractional = np.bincount(flat.reg_w, weights=flat.reg_demand / rpr * m, minlength=n_w)
        per_region = ceil_replicas(flat.reg_demand, rpr) * m
        widest = np.zeros(n_w)
        np.maximum.at(widest, flat.reg_w, per_region)
        disjoint = np.bincount(flat.reg_w, weights=per_region, minlength=n_w) * flat.disjoint
        needed = ceil_replicas(flat.demand_total, flat.rpr)
        total = needed * best
        # replicas.max caps what can be served: the rest is short at its penalty
        capped = np.where(needed > flat.max_replicas,
                          np.minimum(needed, flat.max_replicas) * best + (needed - flat.max_replicas) * flat.value,
                          0.0)
        inference = flat.kind == INFERENCE
        lb = np.where(inference, np.maximum.reduce([lb, fractional, widest, disjoint, total, capped]), lb)
        served = np.flatnonzero(rmin < flat.value[flat.reg_w])
        if len(served):
            arg = flat.reg_idx[_segment_argmin(rvals, flat.reg_starts, rmin, flat.reg_seg)[served]]
            replicas = flat.reg_demand[served] / rpr[served]
            np.add.at(gpus_used, flat.pool[arg], replicas * flat.gpus[arg])
            np.add.at(kw_used, flat.site[arg], replicas * flat.power[arg])
    value = float(lb.sum() - pi @ cap_gpus - mu @ cap_kw)
    return Evaluation(value if math.isfinite(value) else -math.inf, gpus_used, kw_used)


@dataclass(frozen=True)
class Dual:
    bound: float  # the best L found
    pi: FloatArray  # its prices
    mu: FloatArray
    iterations: int


def subgradient(flat: Flat, cap_gpus: FloatArray, cap_kw: FloatArray, upper: float, *,
                iterations: int = 200, time_limit: float = 10.0, level: float = 0.1) -> Dual:
    """Maximize L(pi, mu) by projected subgradient steps.

    The step aims at a target level: the best L so far raised by `level` of itself,
    but never above `upper` (a known plan's value). Aiming at `upper` alone overshoots
    badly when the plan is far from the bound, as on capacity-short fleets."""
    t0 = time.perf_counter()
    pi = np.zeros(len(cap_gpus))
    mu = np.zeros(len(cap_kw))
    best = Dual(-math.inf, pi.copy(), mu.copy(), 0)
    theta, stall = 1.0, 0
    for k in range(iterations):
        ev = evaluate(flat, cap_gpus, cap_kw, pi, mu)
        if not math.isfinite(best.bound) or ev.value > best.bound + 1e-9 * max(1.0, abs(best.bound)):
            best = Dual(ev.value, pi.copy(), mu.copy(), k + 1)
            stall = 0
        else:
            stall += 1
            if stall >= 8:
                theta, stall = theta / 2, 0
        g_pool = ev.gpus_used - cap_gpus
        g_site = ev.kw_used - cap_kw
        # components at zero price that are under-used cannot move: leave them out of the norm
        g_pool = np.where((pi <= 0) & (g_pool < 0), 0.0, g_pool)
        g_site = np.where((mu <= 0) & (g_site < 0), 0.0, g_site)
        norm = float(g_pool @ g_pool + g_site @ g_site)
        target = min(upper, best.bound + level * max(1.0, abs(best.bound)))
        gap = target - ev.value
        if norm <= 1e-12 or upper - best.bound <= 1e-9 * max(1.0, abs(upper)) or theta < 1e-4:
            break
        if time.perf_counter() - t0 > time_limit:
            break
        step = theta * max(gap, 0.0) / norm
        pi = np.maximum(0.0, pi + step * g_pool)
        mu = np.maximum(0.0, mu + step * g_site)
    return best
