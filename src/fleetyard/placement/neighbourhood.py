"""Neighbourhoods: the few workloads a local change touches, and the pools they may use.

Failovers (`resilience`) and incremental re-plans (`incremental`) solve a MILP over
a neighbourhood instead of the whole fleet, so their size does not grow with the
fleet: the workloads that must be re-placed (displaced by a failed site, or changed),
the workloads that may move to make room for them (`movable_workloads`), each
restricted to the pools it uses and its cheapest others (`restrict`); everything
else stays where it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fleetyard.placement.candidates import Candidates
from fleetyard.placement.result import Placement
from fleetyard.placement.usage import UsageIndex

if TYPE_CHECKING:
    from fleetyard.placement.planner import Planner

REACH_POOLS = 8  # a re-placed workload may push aside work on its 8 cheapest surviving pools
MAX_MOVABLE = 100  # at most this many workloads move to make room
DISPLACED_POOLS = 48  # pools a re-placed workload may go to (its cheapest surviving ones)
MOVABLE_POOLS = 4  # pools a workload moved to make room may go to, besides its own
FULL_COLUMNS = 5_000  # up to this many candidate pools in all, a neighbourhood keeps every pool


def movable_workloads(planner: Planner, placement: Placement, displaced: list[str],
                      failed_sites: set[int], index: UsageIndex | None = None) -> list[str]:
    """Placed workloads that may make room: no higher priority than the displaced work,
    running on the sites where the displaced work could best go (the sites of its
    REACH_POOLS cheapest surviving pools). The sites are taken in rounds (each displaced
    workload's best site, then its second, ...), their workloads in fleet order, until
    MAX_MOVABLE workloads: the neighbourhood, and so the model, does not grow with the
    fleet."""
    c = planner.compiled
    index = index if index is not None and index.placement is placement else UsageIndex(c, placement)
    ranked: list[list[int]] = []
    for w in displaced:
        cand = planner.by_name[w]
        alive = np.flatnonzero(~np.isin(cand.sites, list(failed_sites)))
        order = alive[np.argsort(cand.cost[alive], kind="stable")[:REACH_POOLS]]
        ranked.append(list(dict.fromkeys(int(s) for s in cand.sites[order])))
    top = max((planner.by_name[w].w.spec.priority for w in displaced), default=0)
    workloads = planner.fleet.workloads
    picked: dict[str, None] = {name: None for name in displaced}
    out: list[str] = []
    for rank in range(REACH_POOLS):
        for sites in ranked:
            if rank >= len(sites):
                continue
            for name in index.by_site.get(sites[rank], []):
                if name in picked or workloads[name].spec.priority > top:
                    continue
                picked[name] = None
                out.append(name)
                if len(out) >= MAX_MOVABLE:
                    return out
    return out


def neighbourhood(planner: Planner, names: list[str], replan: set[str], used: Placement,
                  failed_sites: set[int]) -> list[Candidates]:
    """The candidates of `names` for a neighbourhood MILP: whole when they are few
    (up to FULL_COLUMNS candidate pools in all), else each restricted (`restrict`) to
    what it uses and its cheapest others: DISPLACED_POOLS for the workloads in
    `replan`, MOVABLE_POOLS for those that only make room."""
    cands = [planner.by_name[w] for w in names]
    if sum(len(cd.pools) for cd in cands) <= FULL_COLUMNS:
        return [restrict(cd, {}, failed_sites, len(cd.pools)) for cd in cands]
    return [restrict(cd, used.replicas.get(cd.name, {}), failed_sites,
                     DISPLACED_POOLS if cd.name in replan else MOVABLE_POOLS) for cd in cands]


def restrict(cand: Candidates, used: dict[int, int], failed_sites: set[int], k: int) -> Candidates:
    """`cand` restricted to the surviving pools it uses in `used` and its `k` cheapest
    other surviving pools (ties by pool order: deterministic)."""
    alive = ~np.isin(cand.sites, list(failed_sites))
    keep = alive & np.isin(cand.pools, list(used))
    order = np.flatnonzero(alive & ~keep)
    keep[order[np.argsort(cand.cost[order], kind="stable")[:k]]] = True
    return cand if keep.all() else cand.subset(keep)


def merge(base: Placement, partial: Placement, affected: list[str]) -> Placement:
    """`base` with the affected workloads replaced by `partial`'s (inner tables are shared,
    not copied: placements are not changed once built)."""
    out = Placement(base.strategy, solver=partial.solver, status=partial.status, seconds=partial.seconds)
    out.replicas = dict(base.replicas)
    out.routes = dict(base.routes)
    out.missing = dict(base.missing)
    out.spread_short = dict(base.spread_short)
    for w in affected:
        out.replicas.pop(w, None)
        out.routes.pop(w, None)
        out.missing.pop(w, None)
        out.spread_short.pop(w, None)
        if w in partial.replicas:
            out.replicas[w] = partial.replicas[w]
        if w in partial.routes:
            out.routes[w] = partial.routes[w]
        if w in partial.missing:
            out.missing[w] = partial.missing[w]
        if w in partial.spread_short:
            out.spread_short[w] = partial.spread_short[w]
    return out


