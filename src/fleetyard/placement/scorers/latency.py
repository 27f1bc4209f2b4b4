"""Latency: round-trip ms from the pool's site to the nearest region with demand."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fleetyard.placement.context import FloatArray
from fleetyard.placement.filters.latency import demand_regions
from fleetyard.placement.framework import Context
from fleetyard.spec.models import Workload


class Latency:
    name: ClassVar[str] = "latency"
    unit: ClassVar[str] = "ms to nearest demand region"

    def values(self, ctx: Context, w: Workload) -> FloatArray:
        c = ctx.compiled
        regions = demand_regions(c, w)
        if not regions:
            return np.zeros(c.n_pools)
        out: FloatArray = c.rtt[:, regions].min(axis=1)[c.pool_site]
        return out
