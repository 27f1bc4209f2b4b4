"""Capacity a placement uses, and the ledger of what is left free."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

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


class UsageIndex:
    """Per-workload usage of one placement, to update ledgers without rescanning it all.

    Failover asks the same questions for every site: what is free once these workloads
    leave, which workloads run here. Built once per placement, each answer costs only
    the workloads involved."""

    def __init__(self, compiled: Compiled, placement: Placement) -> None:
        self.compiled = compiled
        self.placement = placement
        self._pools: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self.by_site: dict[int, list[str]] = {}
        self.holders: dict[int, list[str]] = {}  # pool -> workloads with replicas on it
        workloads = compiled.fleet.workloads
        for name, pools in placement.replicas.items():
            w = workloads[name]
            ps = np.array([p for p, n in pools.items() if n > 0], dtype=np.int64)
            ns = np.array([pools[int(p)] for p in ps], dtype=np.float64)
            sites = compiled.pool_site[ps]
            kw = ns * np.array([compiled.replica_power_at(w, int(p)) for p in ps], dtype=np.float64)
            self._pools[name] = (ps, ns * w.spec.replica.gpus, sites, kw)
            for s in set(sites.tolist()):
                self.by_site.setdefault(int(s), []).append(name)
            for p in ps.tolist():
                self.holders.setdefault(int(p), []).append(name)
        self.total = self.usage_of(self._pools)

    @cached_property
    def order(self) -> dict[str, int]:
        """Position of each workload in the fleet (to keep fleet order when sorting)."""
        return {name: i for i, name in enumerate(self.compiled.fleet.workloads)}

    def usage_of(self, names: Iterable[str]) -> Ledger:
        gpus = np.zeros(self.compiled.n_pools)
        kw = np.zeros(self.compiled.n_sites)
        for name in names:
            entry = self._pools.get(name)
            if entry is None:
                continue
            ps, g, sites, k = entry
            np.add.at(gpus, ps, g)
            np.add.at(kw, sites, k)
        return Ledger(gpus.astype(np.int64), kw, kw.copy(), "used")

    def free_without(self, names: Iterable[str], down: Iterable[int] = ()) -> Ledger:
        """Capacity left if the workloads in `names` left the placement; `down` sites have none."""
        back = self.usage_of(names)
        c = self.compiled
        free = Ledger(c.pool_count - self.total.gpus + back.gpus,
                      c.it_capacity_kw - self.total.it_kw + back.it_kw,
                      c.cooling_kw - self.total.cooling_kw + back.cooling_kw, "free")
        for s in down:
            free.gpus[c.site_pools[s]] = 0
            free.it_kw[s] = 0.0
            free.cooling_kw[s] = 0.0
        return free
