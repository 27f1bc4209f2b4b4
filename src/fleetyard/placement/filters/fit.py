"""Fit: one replica (or a whole one-site gang) must fit the GPUs, IT power and cooling.

Against the static ledger this says "the site can never host it"; against the
ledger of free capacity (greedy, explanations) it says "not with what is left".
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fleetyard.placement.context import BoolArray
from fleetyard.placement.framework import Context, Reason
from fleetyard.spec.models import Workload

GPUS_SHORT = "fit.gpus"
POWER_SHORT = "fit.power"
COOLING_SHORT = "fit.cooling"


def unit_replicas(w: Workload) -> int:
    """Replicas that must land on one pool together: the whole gang for one-site gangs."""
    if w.spec.is_gang and w.spec.max_sites == 1:
        return max(1, w.spec.replicas.min)
    return 1


class Fit:
    name: ClassVar[str] = "fit"

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        c, ledger = ctx.compiled, ctx.ledger
        n = unit_replicas(w)
        gpus = n * w.spec.replica.gpus
        kw = n * c.replica_power_at(w, pool)
        s = int(c.pool_site[pool])
        sku = c.pool_sku[pool]
        what = f"gang of {n} x {w.spec.replica.gpus} GPUs" if n > 1 else "replica"
        free = ledger.kind == "free"
        out: list[Reason] = []
        if ledger.gpus[pool] < gpus:
            have = f"{ledger.gpus[pool]} free" if free else f"site has {ledger.gpus[pool]}"
            out.append(Reason(GPUS_SHORT, f"{sku}: {have} < {gpus} needed by the {what}",
                              f"{'too few free' if free else 'too few'} GPUs for the {what}"))
        word = "free" if free else "capacity"
        if ledger.it_kw[s] < kw - 1e-9:
            out.append(Reason(POWER_SHORT, f"power: {ledger.it_kw[s]:.2f} kW {word} < {kw:.2f} kW",
                              f"{'not enough free' if free else 'too little'} IT power for the {what}"))
        if ledger.cooling_kw[s] < kw - 1e-9:
            out.append(Reason(COOLING_SHORT, f"cooling: {ledger.cooling_kw[s]:.2f} kW {word} < {kw:.2f} kW",
                              f"{'not enough free' if free else 'too little'} cooling for the {what}"))
        return out

    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        c, ledger = ctx.compiled, ctx.ledger
        n = unit_replicas(w)
        kw = n * c.replica_power_kw(w)
        site = c.pool_site
        ok = ledger.gpus >= n * w.spec.replica.gpus
        ok &= ledger.it_kw[site] >= kw - 1e-9
        ok &= ledger.cooling_kw[site] >= kw - 1e-9
        out: BoolArray = np.asarray(ok, dtype=bool)
        return out
