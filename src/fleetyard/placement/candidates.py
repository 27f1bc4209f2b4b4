"""Which pools may host each workload, at what cost, and which sites serve which region.

This is the bridge between the filters and the solvers: the runner's static
verdict (every hard constraint against total capacity) reduced to arrays per
workload. Both the optimizer and the greedy baseline start from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fleetyard.placement.burst import preference_premium
from fleetyard.placement.context import FloatArray, IntArray
from fleetyard.placement.filters.fit import unit_replicas
from fleetyard.placement.filters.latency import demand_regions
from fleetyard.placement.framework import Context
from fleetyard.placement.runner import Runner
from fleetyard.spec.models import Workload


@dataclass
class Candidates:
    """Feasible pools of one workload (static check) with per-replica cost and power."""

    w: Workload
    pools: IntArray
    cost: FloatArray  # $/h per replica on each pool (linearized egress) + preference premium: what solvers minimize
    power: FloatArray  # IT kW per replica on each pool
    sites: IntArray  # site of each pool
    gpus: int  # GPUs per replica
    unit: int  # replicas that must share one pool (one-site gangs), else 1
    need: int  # replicas a job must run (replicas.min); inference: replicas.min
    regions: list[int] = field(default_factory=list)  # demand regions (inference)
    demand: FloatArray = field(default_factory=lambda: np.zeros(0))  # rps per region
    region_sites: list[IntArray] = field(default_factory=list)  # candidate sites within SLO
    # The part of `cost` that is the burst preference premium (`burst.preference_premium`),
    # not money: empty when the Objective has no `burst.prefer`.
    premium: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def name(self) -> str:
        return self.w.name

    @property
    def single_pool(self) -> bool:
        """One-site gang: all replicas on one pool (one site, one SKU)."""
        return self.w.spec.is_gang and self.w.spec.max_sites == 1

    @property
    def real_cost(self) -> FloatArray:
        """$/h per replica on each pool without the preference premium (linearized egress)."""
        return self.cost - self.premium if len(self.premium) else self.cost

    @property
    def rps_per_replica(self) -> float:
        return float(self.w.spec.rps_per_replica or 0.0)

    @property
    def max_replicas(self) -> int | None:
        spec = self.w.spec
        if spec.is_job:
            return spec.replicas.min
        return spec.replicas.max

    def replicas_for_demand(self) -> int:
        """Replicas the whole demand needs if one site could serve it all."""
        if not len(self.demand) or self.rps_per_replica <= 0:
            return 0
        return ceil_div(float(self.demand.sum()), self.rps_per_replica)

    def site_list(self) -> list[int]:
        return sorted(set(int(s) for s in self.sites))

    def subset(self, keep: np.ndarray) -> Candidates:
        """The same workload restricted to the pools where `keep` is True."""
        sites = self.sites[keep]
        allowed = set(int(s) for s in sites)
        return Candidates(
            w=self.w, pools=self.pools[keep], cost=self.cost[keep], power=self.power[keep], sites=sites,
            gpus=self.gpus, unit=self.unit, need=self.need, regions=list(self.regions), demand=self.demand,
            region_sites=[np.array([s for s in rs if int(s) in allowed], dtype=np.int64) for rs in self.region_sites],
            premium=self.premium[keep] if len(self.premium) else self.premium,
        )


def ceil_div(value: float, per: float) -> int:
    """ceil(value / per), robust to floating noise (120/40 is 3, not 4)."""
    return max(0, math.ceil(value / per - 1e-9))


def build_candidates(ctx: Context, runner: Runner, w: Workload) -> Candidates:
    c = ctx.compiled
    feasible = runner.feasible(ctx, w)
    pools = np.flatnonzero(feasible).astype(np.int64)
    costs = ctx.replica_costs(w)
    sites = c.pool_site[pools]
    premium = preference_premium(c, w)
    cand = Candidates(
        w=w,
        pools=pools,
        cost=costs.total[pools] + premium[pools] if premium is not None else costs.total[pools],
        power=costs.power_kw[pools],
        sites=sites,
        gpus=w.spec.replica.gpus,
        unit=unit_replicas(w),
        need=w.spec.replicas.min,
        premium=premium[pools] if premium is not None else np.zeros(0),
    )
    if w.spec.type == "inference" and w.spec.demand and w.spec.rps_per_replica:
        regions = demand_regions(c, w)
        cand.regions = regions
        cand.demand = np.array([float(w.spec.demand[c.region_names[g]]) for g in regions])
        unique_sites = np.unique(sites)
        slo = w.spec.latency_slo_ms
        for g in regions:
            if slo is None:
                cand.region_sites.append(unique_sites)
            else:
                cand.region_sites.append(unique_sites[c.rtt[unique_sites, g] <= float(slo)])
    return cand
