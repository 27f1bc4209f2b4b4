"""What moving work costs: re-plans start from the running plan and move only for a gain.

Every replica a re-plan starts where the running plan has none restarts a process
(minutes of a GPU doing nothing, caches cold) and may make the target site fetch the
model over a thin link. That one-time price, spread over `payback_hours`, is what
the cost stage charges per replica started:

    move $/h = (per_gpu x GPUs per replica + per_gb x GB the site must fetch) / payback_hours

GB to fetch: the model's size where it is known (`model_gb`, e.g. from the
registry) and the site does not already run that model, else 0. Defaults: $1.00 per
GPU restarted (about 15 minutes of an H100 at cloud rent, warm-up included), $0.05
per GB (WAN transfer, and the cost of filling a thin link), paid back over 24 hours:
a move must save more than its one-time cost within a day. So an equal-cost move
never happens, ties break toward the running plan, and work that vanished from the
running plan (new workloads) pays nothing extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetyard.placement.candidates import Candidates
from fleetyard.placement.context import Compiled, Ledger

Running = Mapping[str, Mapping[tuple[str, str], int]]  # workload -> (site, SKU) -> replicas


@dataclass(frozen=True)
class MovePolicy:
    per_gpu: float = 1.0  # $ one-time per GPU of a replica started
    per_gb: float = 0.05  # $ per GB the target site must fetch
    payback_hours: float = 24.0


@dataclass
class MoveCosts:
    """The running plan in pool terms, and the hourly price of starting replicas elsewhere."""

    compiled: Compiled
    current: Running
    policy: MovePolicy = field(default_factory=MovePolicy)
    model_gb: Mapping[str, float] = field(default_factory=dict)  # model reference -> GB
    _pools: dict[str, dict[int, int]] = field(default_factory=dict)
    _sites_with: dict[str, set[int]] = field(default_factory=dict)  # model -> sites running it

    def __post_init__(self) -> None:
        c = self.compiled
        pool_of = {(c.site_names[int(c.pool_site[p])], c.pool_sku[p]): p for p in range(c.n_pools)}
        workloads = c.fleet.workloads
        for name, table in self.current.items():
            pools: dict[int, int] = {}
            for key, n in table.items():
                p = pool_of.get(key)
                if p is not None and n > 0:
                    pools[p] = pools.get(p, 0) + int(n)
            self._pools[name] = pools
            if name in workloads:
                model = workloads[name].spec.model
                self._sites_with.setdefault(model, set()).update(int(c.pool_site[p]) for p in pools)

    def tracks(self, workload: str) -> bool:
        """Only workloads of the running plan pay for moves (new ones start anywhere)."""
        return workload in self._pools

    def pools_of(self, workload: str) -> dict[int, int]:
        """Replicas per pool of `workload` in the running plan."""
        return dict(self._pools.get(workload, {}))

    def running(self, workload: str, pool: int) -> int:
        return self._pools.get(workload, {}).get(pool, 0)

    def price(self, cand: Candidates, j: int) -> float:
        """$/h-equivalent of starting one replica of `cand` on its j-th candidate pool."""
        site = int(cand.sites[j])
        model = cand.w.spec.model
        fetch = 0.0 if site in self._sites_with.get(model, set()) else float(self.model_gb.get(model, 0.0))
        one_time = self.policy.per_gpu * cand.gpus + self.policy.per_gb * fetch
        return one_time / self.policy.payback_hours


def running_from_assignments(assignments: object) -> dict[str, dict[tuple[str, str], int]]:
    """The running table from a plan's `assignments` (objects with workload, site, gpu_sku, replicas)."""
    out: dict[str, dict[tuple[str, str], int]] = {}
    for a in assignments:  # type: ignore[attr-defined]
        table = out.setdefault(a.workload, {})
        table[(a.site, a.gpu_sku)] = table.get((a.site, a.gpu_sku), 0) + int(a.replicas)
    return out


def running_start(compiled: Compiled, cands: Sequence[Candidates],
                  costs: MoveCosts) -> tuple[Ledger, dict[str, dict[int, int]]]:
    """What of the running plan still fits (candidate pools, replicas.max, capacity), as
    `existing` replicas for the greedy start, and the capacity they leave free. Highest
    priority first, so a shrunken fleet keeps its most important work where it runs."""
    free = compiled.full_ledger()
    kw = np.minimum(free.it_kw, free.cooling_kw).astype(np.float64)
    kept: dict[str, dict[int, int]] = {}
    for cand in sorted(cands, key=lambda c: (-c.w.spec.priority, c.name)):
        if not costs.tracks(cand.name):
            continue
        index = {int(p): j for j, p in enumerate(cand.pools)}
        cap = cand.max_replicas
        total = 0
        for p, n in sorted(costs.pools_of(cand.name).items()):
            j = index.get(p)
            if j is None:
                continue
            if cand.single_pool and n < cand.unit:
                continue
            n = cand.unit if cand.single_pool else (n if cap is None else min(n, cap - total))
            site = int(cand.sites[j])
            fits = min(n, int(free.gpus[p] // max(1, cand.gpus)),
                       int(kw[site] // max(1e-9, float(cand.power[j]))))
            if cand.single_pool and fits < n:
                continue
            if fits <= 0:
                continue
            kept.setdefault(cand.name, {})[p] = fits
            free.gpus[p] -= fits * cand.gpus
            kw[site] -= fits * float(cand.power[j])
            free.it_kw[site] -= fits * float(cand.power[j])
            free.cooling_kw[site] -= fits * float(cand.power[j])
            total += fits
            if cand.single_pool:
                break
    return free, kept
