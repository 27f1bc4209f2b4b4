"""Burst: a workload with `spec.burst: never` may not run on burst sites.

Burst sites are those whose type is in the Objective's `burst.burst_site_types`
(hyperscaler when the Objective says nothing), see `placement/burst.py`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fleetyard.placement.burst import rules_of
from fleetyard.placement.context import BoolArray
from fleetyard.placement.framework import Context, Reason
from fleetyard.spec.models import Workload

BURST_NEVER = "burst.never"


class Burst:
    name: ClassVar[str] = "burst"

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        c = ctx.compiled
        s = int(c.pool_site[pool])
        if w.spec.burst != "never" or not rules_of(c).burst_site[s]:
            return []
        return [Reason(BURST_NEVER,
                       f"burst: workload may not run on burst sites (spec.burst: never); "
                       f"{c.site_names[s]} is a {c.site_type[s]}",
                       "burst: may not run on burst sites (spec.burst: never)")]

    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        c = ctx.compiled
        if w.spec.burst != "never":
            return np.ones(c.n_pools, dtype=bool)
        key = ("burst", "never")
        cached = ctx.memo.get(key)
        if cached is None:
            cached = ~rules_of(c).burst_site[c.pool_site]
            ctx.memo[key] = cached
        return cached
