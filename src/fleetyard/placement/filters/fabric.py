"""Fabric: a workload's interconnect need against a pool's servers and scale-out fabric.

A replica (or a whole one-site gang, the unit `fit` checks too) that needs more than
one server may only go where one fabric domain of a matching type and bandwidth holds
all the servers it needs; `within_server` asks each replica to fit one server with the
right GPU link. The rule itself is `spec.interconnect.shortfalls`; this plugin applies
it per pool, and `mask` is the same rule on the compiled arrays.

The verdict depends on the pools' servers and fabrics only, never on the ledger: it is
the same against total capacity (the static check the solvers use) and against free
capacity (greedy, explanations), where `fit` alone says what is left. Workloads without
`interconnect` are never rejected.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fleetyard.placement.context import BoolArray
from fleetyard.placement.filters.fit import unit_replicas
from fleetyard.placement.framework import Context, Reason
from fleetyard.spec.interconnect import (
    DOMAIN_TOO_SMALL,
    FABRIC_BANDWIDTH,
    FABRIC_TYPE,
    FABRICS_FOR,
    LINK_MISMATCH,
    LINKS_FOR,
    MUST_FIT_ONE_SERVER,
    SERVER_TOO_SMALL,
    TOO_FEW_SERVERS,
    shortfalls,
    wanted_fabric,
)
from fleetyard.spec.models import Workload

__all__ = [
    "DOMAIN_TOO_SMALL",
    "FABRIC_BANDWIDTH",
    "FABRIC_TYPE",
    "LINK_MISMATCH",
    "MUST_FIT_ONE_SERVER",
    "SERVER_TOO_SMALL",
    "TOO_FEW_SERVERS",
    "Fabric",
]


class Fabric:
    name: ClassVar[str] = "fabric"

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        need = w.spec.interconnect
        if need is None:
            return []
        shape = ctx.compiled.pool_shapes[pool]
        return [Reason(s.code, s.message, s.summary)
                for s in shortfalls(need, unit_replicas(w), w.spec.replica.gpus, shape)]

    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        c = ctx.compiled
        need = w.spec.interconnect
        ok: BoolArray = np.ones(c.n_pools, dtype=bool)
        if need is None:
            return ok
        n, g = unit_replicas(w), w.spec.replica.gpus
        gps = c.pool_gpus_per_server
        # servers needed per pool: packed whole replicas when they stay within a server
        spanning = -(-(n * g) // gps)
        if need.within_server != "any":
            within = gps >= g
            per_server = np.maximum(gps // g, 1)
            servers = np.where(within, -(-n // per_server), spanning)
            ok &= within
            ok &= np.isin(c.pool_link, sorted(LINKS_FOR[need.within_server]))
            held = (c.pool_count // gps) * (gps // g) + (c.pool_count % gps) // g
            ok &= ~(within & (held < n) & (n * g <= c.pool_count))
        else:
            servers = spanning
        multi = servers > 1
        if need.between_servers == "none":
            ok &= ~multi
            return ok
        fabric = wanted_fabric(need)
        if fabric is None:
            return ok
        good = np.isin(c.pool_fabric, sorted(FABRICS_FOR[fabric]))
        if need.min_gbps is not None:
            good &= c.pool_fabric_gbps >= need.min_gbps
        domain = c.pool_domain_servers
        good &= (domain == 0) | (domain >= servers)
        ok &= ~multi | good
        return ok
