"""A lower bound on the placement objective that holds for *every* candidate pool.

Price each pool's GPUs at pi_p >= 0 and each site's kW at mu_s >= 0 and move the
capacity rows into the objective (Lagrangian relaxation). The problem then falls
apart into one small problem per workload - "place yourself at these prices" - and

    L(pi, mu) = sum_w LB_w(pi, mu) - sum_p pi_p * GPUs_p - sum_s mu_s * kW_s  <=  optimum

for any prices, as long as each LB_w is a lower bound of workload w's own problem.
Ours drops the workload's side constraints (spread, SKU, per-pool bounds), which
only lowers it, and keeps what makes it tight: whole replicas, the cheapest priced
pool within each region's SLO, and the choice to leave work short at its penalty.
With the prices of the restricted LP (negated row duals) the bound is close to the
LP bound of the full model, which is how the optimizer can prune pools on a big
fleet and still prove its gap honestly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fleetyard.placement.candidates import Candidates, ceil_div
from fleetyard.placement.context import Compiled, FloatArray, Ledger
from fleetyard.placement.pruning import priced_costs


def workload_bound(cand: Candidates, priced: FloatArray, value: float) -> float:
    """Lower bound of one workload's own problem at priced per-replica costs.
    `value` is its shortfall penalty per replica."""
    spec = cand.w.spec
    best = min(float(priced.min()), value) if len(priced) else value
    if cand.single_pool:
        return cand.unit * best
    if spec.is_job:
        return cand.need * best
    bound = cand.need * best  # replicas.min
    if not cand.regions or cand.rps_per_replica <= 0:
        return bound
    r = cand.rps_per_replica
    per_region: list[float] = []
    for sites_g in cand.region_sites:
        in_g = np.isin(cand.sites, sites_g)
        per_region.append(min(float(priced[in_g].min()), value) if in_g.any() else value)
    demand = [float(d) for d in cand.demand]
    fractional = sum(d / r * m for d, m in zip(demand, per_region, strict=True))
    total = ceil_div(sum(demand), r) * best
    widest = max((ceil_div(d, r) * m for d, m in zip(demand, per_region, strict=True)), default=0.0)
    bound = max(bound, fractional, total, widest)
    if _disjoint(cand.region_sites):
        bound = max(bound, sum(ceil_div(d, r) * m for d, m in zip(demand, per_region, strict=True)))
    return bound


def _disjoint(groups: Sequence[np.ndarray]) -> bool:
    seen: set[int] = set()
    for g in groups:
        items = set(int(s) for s in g)
        if seen & items:
            return False
        seen |= items
    return True


def lagrangian_bound(compiled: Compiled, ledger: Ledger, cands: Sequence[Candidates], unit: float,
                     pool_price: FloatArray, site_price: FloatArray) -> float:
    """L(pi, mu) over all candidates (see the module docstring). Prices must be >= 0."""
    pool_price = np.maximum(pool_price, 0.0)
    site_price = np.maximum(site_price, 0.0)
    total = 0.0
    for cand in cands:
        value = unit * (1 + cand.w.spec.priority) * cand.gpus
        priced = priced_costs(compiled, cand, pool_price, site_price)
        total += workload_bound(cand, priced, value)
    capacity = float(pool_price @ ledger.gpus.astype(np.float64))
    power = float(site_price @ np.minimum(ledger.it_kw, ledger.cooling_kw))
    out = total - capacity - power
    return out if math.isfinite(out) else -math.inf
