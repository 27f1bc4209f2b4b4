"""Latency SLO: an inference site must be within the SLO of at least one demand region."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fleetyard.placement.context import BoolArray, Compiled
from fleetyard.placement.framework import Context, Reason
from fleetyard.spec.models import Workload

OUT_OF_SLO = "latency.out-of-slo"


def demand_regions(c: Compiled, w: Workload) -> list[int]:
    """Indices of regions with positive demand for `w`."""
    return [c.region_index[r] for r, rps in w.spec.demand.items() if rps > 0 and r in c.region_index]


def applies(w: Workload) -> bool:
    return w.spec.type == "inference" and w.spec.latency_slo_ms is not None and any(
        v > 0 for v in w.spec.demand.values()
    )


class LatencySlo:
    name: ClassVar[str] = "latency"

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        if not applies(w):
            return []
        c = ctx.compiled
        regions = demand_regions(c, w)
        s = int(c.pool_site[pool])
        rtts = c.rtt[s, regions]
        slo = float(w.spec.latency_slo_ms or 0)
        best = int(np.argmin(rtts))
        if rtts[best] > slo:
            region = c.region_names[regions[best]]
            return [Reason(OUT_OF_SLO,
                           f"latency: {rtts[best]:.1f} ms to nearest demand region {region} > {slo:g} ms SLO",
                           f"outside the {slo:g} ms latency SLO")]
        return []

    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        c = ctx.compiled
        if not applies(w):
            return np.ones(c.n_pools, dtype=bool)
        regions = demand_regions(c, w)
        site_ok: BoolArray = np.asarray((c.rtt[:, regions] <= float(w.spec.latency_slo_ms or 0)).any(axis=1))
        out: BoolArray = site_ok[c.pool_site]
        return out
