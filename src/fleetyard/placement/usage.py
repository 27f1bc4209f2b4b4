"""Capacity a placement uses, and the ledger of what is left free."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from fleetyard.placement.context import Compiled, Ledger
from fleetyard.placement.result import Placement


def used(compiled: Compiled, placement: Placement, skip: Iterable[str] = ()) -> Ledger:
    """GPUs per pool and IT kW per site used by `placement` (minus workloads in `skip`)."""
    skipped = set(skip)
    gpus = np.zeros(compiled.n_pools, dtype=np.int64)
    kw = np.zeros(compiled.n_sites)
    workloads = compiled.fleet.workloads
    for name, pools in placement.replicas.items():
        if name in skipped:
            continue
        w = workloads[name]
        for p, n in pools.items():
            gpus[p] += n * w.spec.replica.gpus
            kw[compiled.pool_site[p]] += n * compiled.replica_power_at(w, p)
    return Ledger(gpus, kw, kw.copy(), "used")


def free_ledger(compiled: Compiled, placement: Placement, skip: Iterable[str] = (),
                down: Iterable[int] = ()) -> Ledger:
    """Capacity left free by `placement`; sites in `down` (failed) have none."""
    u = used(compiled, placement, skip)
    free = Ledger(
        compiled.pool_count - u.gpus,
        compiled.it_capacity_kw - u.it_kw,
        compiled.cooling_kw - u.cooling_kw,
        "free",
    )
    for s in down:
        free.gpus[compiled.site_pools[s]] = 0
        free.it_kw[s] = 0.0
        free.cooling_kw[s] = 0.0
    return free


def subtract(capacity: Ledger, usage: Ledger) -> Ledger:
    return Ledger(capacity.gpus - usage.gpus, capacity.it_kw - usage.it_kw,
                  capacity.cooling_kw - usage.cooling_kw, "free")
