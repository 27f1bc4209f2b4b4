"""The greedy baseline: one workload at a time, by priority, filter then score.

This is how kube-scheduler, Karmada and Nomad place work: take the next workload
(highest priority first, then by name), drop every pool a filter rejects against
the capacity still free, score the rest and take the best; repeat per replica.
It never revisits an earlier choice, which is what the global optimizer improves on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from fleetyard.placement.burst import SpendLedger, rank_key
from fleetyard.placement.candidates import Candidates, ceil_div
from fleetyard.placement.context import FloatArray, IntArray, Ledger
from fleetyard.placement.framework import Context
from fleetyard.placement.result import Placement
from fleetyard.placement.runner import Runner


class _State:
    def __init__(self, ctx: Context, runner: Runner, ledger: Ledger,
                 rank: Mapping[str, FloatArray] | None) -> None:
        self.ctx = ctx
        self.runner = runner
        self.free = ledger
        self._rank: dict[str, FloatArray] = dict(rank or {})
        self.spend = SpendLedger(ctx.compiled)  # burst spend caps (placement/burst.py)

    def rank(self, cand: Candidates) -> FloatArray:
        """Per candidate pool, lower is better (the runner's scores, computed once)."""
        key = self._rank.get(cand.name)
        if key is None:
            key = rank_key(cand)
            if key is None:
                key = self.runner.rank(self.ctx, cand.w, [int(p) for p in cand.pools])
            self._rank[cand.name] = key
        return key

    def fits(self, cand: Candidates, k: int) -> IntArray:
        """Candidate indices (into cand.pools) where `k` more replicas fit now."""
        p = cand.pools
        s = cand.sites
        ok = self.free.gpus[p] >= k * cand.gpus
        kw = k * cand.power
        ok &= self.free.it_kw[s] >= kw - 1e-9
        ok &= self.free.cooling_kw[s] >= kw - 1e-9
        self.spend.restrict(cand, k, ok)
        return np.flatnonzero(ok)

    def take(self, cand: Candidates, j: int, k: int) -> None:
        p, s = int(cand.pools[j]), int(cand.sites[j])
        self.free.gpus[p] -= k * cand.gpus
        self.free.it_kw[s] -= k * float(cand.power[j])
        self.free.cooling_kw[s] -= k * float(cand.power[j])
        self.spend.take(cand, j, k)

    def room(self, cand: Candidates, j: int) -> int:
        """How many replicas fit on candidate j right now."""
        p, s = int(cand.pools[j]), int(cand.sites[j])
        by_gpu = int(self.free.gpus[p]) // cand.gpus
        kw = float(cand.power[j])
        by_kw = int((min(self.free.it_kw[s], self.free.cooling_kw[s]) + 1e-9) // kw) if kw > 0 else by_gpu
        by_cap = self.spend.room(cand, j)
        return max(0, min(by_gpu, by_kw, by_gpu if by_cap is None else by_cap))


def _best(state: _State, cand: Candidates, options: IntArray) -> int:
    key = state.rank(cand)[options]
    return int(options[int(np.argmin(key))])  # first of the best: deterministic


def greedy(
    ctx: Context,
    runner: Runner,
    cands: Sequence[Candidates],
    *,
    ledger: Ledger | None = None,
    existing: Mapping[str, Mapping[int, int]] | None = None,
    rank: Mapping[str, FloatArray] | None = None,
    order: Sequence[str] | None = None,
) -> Placement:
    """Place `cands` one by one. `existing` replicas (already counted in `ledger`) are kept
    and topped up: failover uses this to re-place only what a failed site displaced.
    `rank` (per workload, a key per candidate pool, lower is better) and `order`
    replace the runner's scores and the priority order: the Lagrangian optimizer
    uses them to repair its relaxed solution into a feasible plan."""
    t0 = time.perf_counter()
    state = _State(ctx, runner, (ledger or ctx.compiled.full_ledger()).copy(), rank)
    placement = Placement("greedy", solver="greedy", status="heuristic")  # proves nothing
    for name, pools in (existing or {}).items():
        for p, n in pools.items():
            placement.add_replicas(name, p, n)
    by_name = {cd.name: cd for cd in cands}
    sequence = ([by_name[n] for n in order if n in by_name] if order is not None
                else sorted(cands, key=lambda cd: (-cd.w.spec.priority, cd.name)))
    for cand in sequence:
        if len(cand.pools) == 0:
            if cand.need:
                placement.missing[cand.name] = cand.need
            continue
        if cand.single_pool:
            _gang(state, cand, placement)
        elif cand.w.spec.is_job:
            _job(state, cand, placement)
        else:
            _inference(state, cand, placement)
    placement.seconds = time.perf_counter() - t0
    return placement


def _gang(state: _State, cand: Candidates, placement: Placement) -> None:
    if placement.total_replicas(cand.name):
        return
    options = state.fits(cand, cand.unit)
    if not len(options):
        placement.missing[cand.name] = cand.need
        return
    j = _best(state, cand, options)
    state.take(cand, j, cand.unit)
    placement.add_replicas(cand.name, int(cand.pools[j]), cand.unit)


def _allowed(cand: Candidates, options: IntArray, used_sites: set[int], sku: str | None, ctx: Context) -> IntArray:
    spec = cand.w.spec
    out = options
    if spec.max_sites is not None and len(used_sites) >= spec.max_sites:
        out = out[np.isin(cand.sites[out], list(used_sites))]
    if sku is not None:
        skus = np.array([ctx.compiled.pool_sku[int(cand.pools[j])] for j in out], dtype=object)
        out = out[skus == sku] if len(out) else out
    return out


def _place_one(state: _State, cand: Candidates, placement: Placement,
               used_sites: set[int], restrict: IntArray | None = None, new_site: bool = False) -> int | None:
    """Place one replica on the best pool that fits; return the candidate index."""
    options = state.fits(cand, 1)
    if restrict is not None:
        options = np.intersect1d(options, restrict)
    if new_site:
        options = options[~np.isin(cand.sites[options], list(used_sites))]
    sku = None
    if cand.w.spec.is_gang:
        placed = placement.replicas.get(cand.name, {})
        sku = state.ctx.compiled.pool_sku[next(iter(placed))] if placed else None
    options = _allowed(cand, options, used_sites, sku, state.ctx)
    if not len(options):
        return None
    j = _best(state, cand, options)
    state.take(cand, j, 1)
    placement.add_replicas(cand.name, int(cand.pools[j]), 1)
    used_sites.add(int(cand.sites[j]))
    return j


def _job(state: _State, cand: Candidates, placement: Placement) -> None:
    c = state.ctx.compiled
    existing = placement.replicas.get(cand.name, {})
    used: set[int] = {int(c.pool_site[p]) for p in existing}
    placed = sum(existing.values())
    while placed < cand.need:
        spread_first = len(used) < cand.w.spec.min_sites
        j = _place_one(state, cand, placement, used, new_site=spread_first)
        if j is None and spread_first:
            j = _place_one(state, cand, placement, used)
        if j is None:
            break
        placed += 1
        if len(used) >= cand.w.spec.min_sites:  # fill the chosen pool before looking again
            extra = min(state.room(cand, j), cand.need - placed)
            if extra > 0:
                state.take(cand, j, extra)
                placement.add_replicas(cand.name, int(cand.pools[j]), extra)
                placed += extra
    if placed < cand.need:
        placement.missing[cand.name] = cand.need - placed
    short = cand.w.spec.min_sites - len(used)
    if placed and short > 0:
        placement.spread_short[cand.name] = short


def _inference(state: _State, cand: Candidates, placement: Placement) -> None:
    spec = cand.w.spec
    rpr = cand.rps_per_replica
    cap = spec.replicas.max
    c = state.ctx.compiled
    at_site: dict[int, int] = {}  # site -> replicas
    for p, n in placement.replicas.get(cand.name, {}).items():
        at_site[int(c.pool_site[p])] = at_site.get(int(c.pool_site[p]), 0) + n
    used: set[int] = set(at_site)
    served_at: dict[int, float] = {}

    def placed() -> int:
        return sum(at_site.values())

    order = sorted(range(len(cand.regions)), key=lambda k: (-float(cand.demand[k]), cand.regions[k]))
    for k in order:
        g = cand.regions[k]
        left = float(cand.demand[k])
        in_slo = cand.region_sites[k]
        # spare capacity of replicas already running within the SLO, nearest first
        for s in sorted((s for s in at_site if s in set(int(x) for x in in_slo)), key=lambda s: c.rtt[s, g]):
            spare = at_site[s] * rpr - served_at.get(s, 0.0)
            take = min(spare, left)
            if take > 1e-9:
                placement.add_route(cand.name, g, s, take)
                served_at[s] = served_at.get(s, 0.0) + take
                left -= take
        restrict = np.flatnonzero(np.isin(cand.sites, in_slo))
        while left > 1e-9 and (cap is None or placed() < cap):
            j = _place_one(state, cand, placement, used, restrict=restrict)
            if j is None:
                break
            s = int(cand.sites[j])
            at_site[s] = at_site.get(s, 0) + 1
            # fill this site with as many replicas as the region still needs and fit
            want = ceil_div(left, rpr) - 1
            extra = min(want, state.room(cand, j), (cap - placed()) if cap is not None else want)
            if extra > 0:
                state.take(cand, j, extra)
                placement.add_replicas(cand.name, int(cand.pools[j]), extra)
                at_site[s] += extra
            spare = at_site[s] * rpr - served_at.get(s, 0.0)
            take = min(spare, left)
            placement.add_route(cand.name, g, s, take)
            served_at[s] = served_at.get(s, 0.0) + take
            left -= take
    while placed() < cand.need and (cap is None or placed() < cap):
        j = _place_one(state, cand, placement, used)
        if j is None:
            break
        at_site[int(cand.sites[j])] = at_site.get(int(cand.sites[j]), 0) + 1
    while placed() and len(used) < spec.min_sites and (cap is None or placed() < cap):
        j = _place_one(state, cand, placement, used, new_site=True)
        if j is None:
            break
        at_site[int(cand.sites[j])] = at_site.get(int(cand.sites[j]), 0) + 1
    if placed() < cand.need:
        placement.missing[cand.name] = cand.need - placed()
    if placed() and len(used) < spec.min_sites:
        placement.spread_short[cand.name] = spec.min_sites - len(used)
