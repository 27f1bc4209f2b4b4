"""The optimizer's objective for any placement, without building the model.

    cost     = sum over replicas of their per-replica cost (egress linearized, as in the model)
    penalty  = sum over workloads of V(w) x (replicas short + whole replicas of unserved
               demand per region + sites short of spread.min_sites)

V(w) is the shortfall price per replica of `model` (M x (1 + priority) x GPUs). This
is how greedy plans, repaired plans and solver plans are compared on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetyard.placement.candidates import Candidates, ceil_div
from fleetyard.placement.result import Placement

UNSERVED_SHARE = 0.01  # of a replica per request/s unserved (model.UNSERVED_EPS)


def shortfall_replicas(cand: Candidates, placement: Placement) -> int:
    """Replicas short: of replicas.min (jobs: their size), of demand per region, of spread."""
    short = placement.missing.get(cand.name, 0) + placement.spread_short.get(cand.name, 0)
    if len(cand.regions) and cand.rps_per_replica > 0:
        routed: dict[int, float] = {}
        for (g, _s), rps in placement.routes.get(cand.name, {}).items():
            routed[g] = routed.get(g, 0.0) + rps
        for k, g in enumerate(cand.regions):
            left = float(cand.demand[k]) - routed.get(g, 0.0)
            if left > 1e-6:
                short += ceil_div(left, cand.rps_per_replica)
    return short


def objective(cands: Sequence[Candidates], placement: Placement, unit: float) -> tuple[float, float]:
    """(cost, shortfall penalty) of `placement` in the optimizer's terms."""
    cost = penalty = 0.0
    for cand in cands:
        pools = placement.replicas.get(cand.name)
        if pools:
            price = dict(zip(cand.pools.tolist(), cand.cost.tolist(), strict=True))
            cost += sum(n * price[p] for p, n in pools.items())
        short = shortfall_replicas(cand, placement)
        if short:
            penalty += unit * (1 + cand.w.spec.priority) * cand.gpus * short
    return cost, penalty


def service_short(cands: Sequence[Candidates], placement: Placement) -> float:
    """Priority-weighted GPUs left short, as the service stage counts them (`stages`):
    whole replicas short plus 1% of a replica per request/s left unserved."""
    total = 0.0
    for cand in cands:
        weight = (1 + cand.w.spec.priority) * cand.gpus
        short = float(shortfall_replicas(cand, placement))
        if len(cand.regions) and cand.rps_per_replica > 0:
            routed = sum(placement.routes.get(cand.name, {}).values())
            short += UNSERVED_SHARE * max(0.0, float(cand.demand.sum()) - routed) / cand.rps_per_replica
        total += weight * short
    return total


def weighted_demand(cands: Sequence[Candidates]) -> float:
    """Priority-weighted GPU demand: `service_short` of a plan that places nothing."""
    total = 0.0
    for cand in cands:
        weight = (1 + cand.w.spec.priority) * cand.gpus
        if cand.single_pool:
            total += weight * cand.unit
            continue
        need = float(cand.need)
        if len(cand.regions) and cand.rps_per_replica > 0:
            rpr = cand.rps_per_replica
            need += sum(ceil_div(float(d), rpr) + UNSERVED_SHARE * float(d) / rpr for d in cand.demand if d > 0)
        if cand.w.spec.min_sites > 1 and len(cand.pools):
            need += cand.w.spec.min_sites
        total += weight * need
    return total
