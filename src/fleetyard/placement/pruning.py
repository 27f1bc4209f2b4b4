"""Candidate pruning for big fleets: keep each workload's few best pools, add more on demand.

On a 1,000-site fleet a workload is feasible on hundreds of pools; almost all of
them are far dearer than its best few. The optimizer solves over a restricted set -
the K cheapest pools, the K cheapest sites within the SLO of each demand region,
enough sites for `spread.min_sites` and enough capacity for the workload's size -
and `reprice` brings back any pool that the LP's capacity prices make attractive
(column generation). The proven bound never depends on the pruning: it is the
Lagrangian bound over *all* candidates (`lagrange`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from fleetyard.placement.candidates import Candidates
from fleetyard.placement.context import Compiled, FloatArray

K_POOLS = 8  # cheapest pools kept per workload
K_ADD = 4  # at most this many pools brought back per workload per pricing round
K_SITES_PER_REGION = 4  # cheapest sites kept within the SLO of each demand region
CAPACITY_MARGIN = 2.0  # keep pools until they could hold this many times the workload's size


def site_costs(cand: Candidates) -> dict[int, float]:
    out: dict[int, float] = {}
    for s, v in zip(cand.sites.tolist(), cand.cost.tolist(), strict=True):
        if v < out.get(s, float("inf")):
            out[s] = v
    return out


def prune(compiled: Compiled, cand: Candidates, k_pools: int = K_POOLS,
          k_sites: int = K_SITES_PER_REGION) -> Candidates:
    n = len(cand.pools)
    if n <= k_pools:
        return cand
    order = np.lexsort((cand.pools, cand.cost))  # cheapest first, ties by pool index
    keep = np.zeros(n, dtype=bool)
    keep[order[:k_pools]] = True
    # enough capacity for the workload's size
    size = max(cand.need, cand.replicas_for_demand()) * cand.gpus * (cand.unit if cand.single_pool else 1)
    cap = np.minimum(compiled.pool_count[cand.pools], 10**9).astype(np.float64)
    held = float(cap[keep].sum())
    for j in order[k_pools:]:
        if held >= CAPACITY_MARGIN * size:
            break
        keep[j] = True
        held += float(cap[j])
    # the cheapest sites within the SLO of each demand region, with all their pools
    if cand.regions:
        best = site_costs(cand)
        for sites_g in cand.region_sites:
            ranked = sorted((int(s) for s in sites_g), key=lambda s: (best[s], s))[:k_sites]
            keep |= np.isin(cand.sites, ranked)
    # enough distinct sites for spread
    want_sites = cand.w.spec.min_sites + 1
    if len(set(cand.sites[keep].tolist())) < want_sites:
        for j in order:
            if len(set(cand.sites[keep].tolist())) >= want_sites:
                break
            keep[j] = True
    return cand.subset(keep)


def prune_all(compiled: Compiled, cands: Sequence[Candidates],
              keep: Mapping[str, Iterable[int]] | None = None) -> list[Candidates]:
    """Prune every workload; pools in `keep` (e.g. those a warm-start plan uses) stay."""
    out = []
    for c in cands:
        pruned = prune(compiled, c)
        extra = set(keep.get(c.name, ())) if keep else set()
        if extra and not extra <= set(pruned.pools.tolist()):
            pruned = c.subset(np.isin(c.pools, pruned.pools) | np.isin(c.pools, list(extra)))
        out.append(pruned)
    return out


def priced_costs(compiled: Compiled, cand: Candidates, pool_price: FloatArray, site_price: FloatArray) -> FloatArray:
    """Per-replica cost of every candidate pool with capacity priced in (prices >= 0)."""
    del compiled
    out: FloatArray = cand.cost + cand.gpus * pool_price[cand.pools] + cand.power * site_price[cand.sites]
    return out


def reprice(compiled: Compiled, full: Sequence[Candidates], restricted: Sequence[Candidates],
            pool_price: FloatArray, site_price: FloatArray) -> tuple[list[Candidates], int]:
    """Add back every pruned pool that is cheaper, at the LP's capacity prices, than the
    best pool kept for that workload (per demand region for inference)."""
    out: list[Candidates] = []
    added = 0
    for cand, kept in zip(full, restricted, strict=True):
        if len(kept.pools) == len(cand.pools):
            out.append(kept)
            continue
        priced = priced_costs(compiled, cand, pool_price, site_price)
        inside = np.isin(cand.pools, kept.pools)
        if not inside.any():
            out.append(kept)
            continue
        threshold = float(priced[inside].min())
        better = (~inside) & (priced < threshold - 1e-9)
        if cand.regions:
            for sites_g in cand.region_sites:
                in_g = np.isin(cand.sites, sites_g)
                if (in_g & inside).any():
                    best_g = float(priced[in_g & inside].min())
                    better |= in_g & ~inside & (priced < best_g - 1e-9)
                else:
                    better |= in_g & ~inside
        if better.sum() > K_ADD:  # partial pricing: only the most attractive few
            ranked = np.flatnonzero(better)[np.argsort(priced[better], kind="stable")]
            better = np.zeros_like(better)
            better[ranked[:K_ADD]] = True
        if better.any():
            added += int(better.sum())
            out.append(cand.subset(inside | better))
        else:
            out.append(kept)
    return out, added
