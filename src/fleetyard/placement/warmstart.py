"""Encode a placement (the greedy baseline's) as a first incumbent for the optimizer.

HiGHS starts from it, so the optimizer's plan is never worse than greedy's and the
solver spends its time improving a good plan instead of searching for a first one.
Only replicas, routes and shortfalls are given; HiGHS completes the rest (site and
SKU indicators, slacks) itself.
"""

from __future__ import annotations

import numpy as np

from fleetyard.placement.candidates import ceil_div
from fleetyard.placement.model import BuiltModel
from fleetyard.placement.result import Placement


def encode(built: BuiltModel, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    idx: list[int] = []
    val: list[float] = []
    for wc in built.workloads:
        cand, name = wc.cand, wc.cand.name
        placed = placement.replicas.get(name, {})
        if cand.single_pool:
            for col, p in wc.pool_cols:
                idx.append(col)
                val.append(1.0 if placed.get(p, 0) > 0 else 0.0)
            if wc.missing_col >= 0:
                idx.append(wc.missing_col)
                val.append(0.0 if placed else 1.0)
            continue
        for col, p in wc.pool_cols:
            idx.append(col)
            val.append(float(placed.get(p, 0)))
        if wc.missing_col >= 0:
            idx.append(wc.missing_col)
            val.append(float(max(0, cand.need - sum(placed.values()))))
        routes = placement.routes.get(name, {})
        for col, g, s in wc.route_cols:
            idx.append(col)
            val.append(float(routes.get((g, s), 0.0)))
        routed: dict[int, float] = {}
        for (g, _s), rps in routes.items():
            routed[g] = routed.get(g, 0.0) + rps
        for (col, g), short in zip(wc.unserved_cols, wc.short_cols, strict=True):
            k = cand.regions.index(g)
            left = max(0.0, float(cand.demand[k]) - routed.get(g, 0.0))
            idx.extend([col, short])
            val.extend([left, float(ceil_div(left, cand.rps_per_replica))])
    return np.asarray(idx, dtype=np.int64), np.asarray(val, dtype=np.float64)
