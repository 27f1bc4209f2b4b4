"""Explanations: why each workload runs where it does, and why not elsewhere.

Every site gets a verdict for a workload: *rejected* by a hard constraint (with all
reasons), *chosen* (with its replicas, cost, carbon and latency), or *not chosen*
(with what made it lose: full, dearer, or not needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetyard.placement.candidates import Candidates, ceil_div
from fleetyard.placement.context import Ledger
from fleetyard.placement.filters.fit import Fit
from fleetyard.placement.framework import Context
from fleetyard.placement.result import Placement
from fleetyard.placement.runner import Evaluation, Runner
from fleetyard.spec.models import Workload


@dataclass(frozen=True)
class SiteExplanation:
    site: str
    verdict: str  # rejected | chosen | not chosen
    reasons: tuple[str, ...]
    replicas: dict[str, int] = field(default_factory=dict)  # SKU -> replicas (chosen)
    cost_per_replica: float | None = None  # cheapest feasible pool at the site, $/h
    carbon_kg_per_replica: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)  # demand region -> RTT
    sku: str | None = None


def _money(v: float) -> str:
    return f"${v:,.2f}/h"


def site_explanations(
    ctx: Context, runner: Runner, evaluation: Evaluation, placement: Placement, free: Ledger
) -> list[SiteExplanation]:
    """A verdict for every site (static rejections, then the plan's choices)."""
    c = ctx.compiled
    w = evaluation.workload
    costs = ctx.replica_costs(w)
    chosen = placement.replicas.get(w.name, {})
    regions = [c.region_index[r] for r in w.spec.demand if r in c.region_index]
    chosen_costs = [float(costs.total[p]) for p in chosen]
    best_chosen = min(chosen_costs) if chosen_costs else None
    fit = Fit()
    out: list[SiteExplanation] = []
    for s, verdict in enumerate(evaluation.sites):
        lat = {c.region_names[g]: float(c.rtt[s, g]) for g in regions}
        if not verdict.status.ok:
            out.append(SiteExplanation(verdict.site, "rejected",
                                       tuple(r.message for r in verdict.status.reasons), latency_ms=lat))
            continue
        pools = list(verdict.feasible_pools)
        best = min(pools, key=lambda p: (float(costs.total[p]), p))
        here = {c.pool_sku[p]: n for p, n in chosen.items() if int(c.pool_site[p]) == s}
        cost_here, carbon_here = float(costs.total[best]), float(costs.carbon_kg[best])
        if here:
            sku = max(here, key=lambda k: here[k])
            served = [f"serves {c.region_names[g]} {rps:g} rps"
                      for (g, site), rps in sorted(placement.routes.get(w.name, {}).items()) if site == s]
            if not served:
                served = [f"runs {sum(here.values())} replica(s)"]
            cheapest = min(float(costs.total[p]) for p in np.flatnonzero(evaluation.feasible))
            if float(costs.total[best]) <= cheapest + 1e-9:
                served.append("cheapest feasible site")
            out.append(SiteExplanation(verdict.site, "chosen", tuple(served), dict(here), cost_here, carbon_here,
                                       lat, sku))
            continue
        notes: list[str] = []
        full = [r.message for p in pools for r in fit.check(ctx.with_ledger(free), w, p)]
        if full and all(fit.check(ctx.with_ledger(free), w, p) for p in pools):
            notes.extend(dict.fromkeys(full))
        elif best_chosen is not None and float(costs.total[best]) > best_chosen + 1e-9:
            more = _money(float(costs.total[best]) - best_chosen)
            notes.append(f"costs {more} more per replica than the chosen site")
        elif best_chosen is not None:
            notes.append("as cheap as the chosen site, but not needed")
        else:
            notes.append("feasible, but the workload was not placed (see unplaced)")
        out.append(SiteExplanation(verdict.site, "not chosen", tuple(notes), {}, cost_here, carbon_here, lat,
                                   c.pool_sku[best]))
    return out


def why_placed(ctx: Context, cand: Candidates, placement: Placement, free: Ledger) -> str:
    """One line for the plan table: feasibility count, and what decided the choice."""
    c = ctx.compiled
    w = cand.w
    chosen = placement.replicas.get(w.name, {})
    head = f"{len(np.unique(cand.sites))}/{c.n_sites} sites feasible"
    if not chosen:
        return head
    cost_of = dict(zip((int(p) for p in cand.pools), (float(v) for v in cand.real_cost), strict=True))
    ranked = dict(zip((int(p) for p in cand.pools), (float(v) for v in cand.cost), strict=True))  # + premium
    cheapest = min(cost_of.values())
    paid = max(cost_of.get(p, cheapest) for p in chosen)
    routes = placement.routes.get(w.name, {})
    parts = [head]
    if routes:
        slo = w.spec.latency_slo_ms
        worst = max(float(c.rtt[s, g]) for (g, s) in routes)
        parts.append(f"routes within {slo:g} ms SLO (worst {worst:.1f} ms)" if slo else "no latency SLO")
    if paid <= cheapest + 1e-9:
        parts.append("cheapest feasible")
    else:
        fits = Fit().mask(ctx.with_ledger(free), w)
        dearer = [p for p, v in cost_of.items() if v < paid - 1e-9 and p not in chosen]
        full = [p for p in dearer if not fits[p]]
        paid_ranked = max(ranked.get(p, 0.0) for p in chosen)
        passed_over = [p for p in dearer if fits[p] and ranked[p] >= paid_ranked - 1e-9]
        if dearer and len(full) == len(dearer):
            parts.append(f"{len(full)} cheaper pool(s) full")
        elif passed_over:
            parts.append(f"preferred site type over {len(passed_over)} cheaper pool(s) (burst.prefer)")
        elif routes:
            parts.append("cheaper sites are out of SLO for some regions or full")
        else:
            parts.append("cheapest the plan could fit")
    if w.spec.min_sites > 1:
        parts.append(f"spread over {len({int(c.pool_site[p]) for p in chosen})} sites (min {w.spec.min_sites})")
    return "; ".join(parts)


def pool_holders(placement: Placement) -> dict[int, list[str]]:
    """Which workloads hold replicas on each pool (for naming competitors)."""
    out: dict[int, list[str]] = {}
    for name, pools in placement.replicas.items():
        for p, n in pools.items():
            if n > 0:
                out.setdefault(p, []).append(name)
    return out


def unplaced_reasons(
    ctx: Context, runner: Runner, cand: Candidates, placement: Placement, free: Ledger,
    unserved: dict[str, float], down: Sequence[int] = (), holders: Mapping[int, list[str]] | None = None,
    hit: bool = True,
) -> list[str]:
    """Why part of `w` is not placed or served: hard constraints first, then capacity.
    Sites in `down` have failed: never listed as full, and named once when `hit` (the
    workload ran there), not for work that was pushed aside to make room.
    `holders` (from `pool_holders`) saves recomputing who holds each pool."""
    holders = holders if holders is not None else pool_holders(placement)
    c = ctx.compiled
    w = cand.w
    reasons: list[str] = []
    if len(cand.pools) == 0:
        return [runner.evaluate(ctx, w).summary()]
    fit = Fit()
    gone = set(down)
    dead = np.isin(cand.sites, list(gone)) if gone else np.zeros(len(cand.sites), dtype=bool)
    lost = sorted(set(cand.sites[dead].tolist()))
    if lost and hit:
        reasons.append(f"down: {', '.join(c.site_names[s] for s in lost)}")
    order = np.argsort(cand.cost[~dead], kind="stable")  # cheapest first: named first
    pools = cand.pools[~dead][order].tolist()
    if not pools:
        return reasons
    cost_of = dict(zip(cand.pools.tolist(), cand.cost.tolist(), strict=True))
    missing = placement.missing.get(w.name, 0)
    if missing:
        free_ctx = ctx.with_ledger(free)
        fits = fit.mask(free_ctx, w)
        blocked = [p for p in pools if not fits[p]]
        if len(blocked) == len(pools):
            shown = "; ".join(f"{c.pool_label(p)}: {fit.check(free_ctx, w, p)[0].message}" for p in blocked[:3])
            more = f" and {len(blocked) - 3} more" if len(blocked) > 3 else ""
            reasons.append(f"capacity: all {len(pools)} feasible site/SKU pools are full ({shown}{more})")
            reasons.extend(_competition(ctx, holders, w, blocked, cost_of))
        elif w.spec.max_sites is not None:
            reasons.append(f"spread: at most {w.spec.max_sites} site(s) allowed and those are full")
        else:
            reasons.append("capacity: not enough room left in the feasible pools for the remaining replicas")
    spec = w.spec
    slo = f"the {spec.latency_slo_ms:g} ms SLO" if spec.latency_slo_ms is not None else "reach"
    for region, rps in unserved.items():
        g = c.region_index[region]
        k = cand.regions.index(g) if g in cand.regions else -1
        sites_g = cand.region_sites[k] if k >= 0 else np.zeros(0, dtype=np.int64)
        sites_g = np.array([s for s in sites_g if int(s) not in gone], dtype=np.int64)
        if len(sites_g) == 0:
            feasible_sites = sorted({int(c.pool_site[p]) for p in pools}, key=lambda s: c.rtt[s, g])
            nearest = feasible_sites[0] if feasible_sites else None
            near = (f" (nearest feasible: {c.site_names[nearest]} at {c.rtt[nearest, g]:.1f} ms)"
                    if nearest is not None else "")
            reasons.append(f"{region}: {rps:g} rps unserved: no feasible site within {slo}{near}")
            continue
        placed = placement.total_replicas(w.name)
        if spec.replicas.max is not None and placed >= spec.replicas.max:
            reasons.append(f"{region}: {rps:g} rps unserved: replicas.max ({spec.replicas.max}) reached")
            continue
        site_names = ", ".join(c.site_names[int(s)] for s in sites_g[:4])
        more = f" and {len(sites_g) - 4} more" if len(sites_g) > 4 else ""
        reasons.append(f"{region}: {rps:g} rps unserved: the {len(sites_g)} feasible site(s) within "
                       f"{slo} ({site_names}{more}) are full")
        in_reach = set(sites_g.tolist())
        blocked = [p for p in pools if int(c.pool_site[p]) in in_reach]
        reasons.extend(_competition(ctx, holders, w, blocked, cost_of))
    short = placement.spread_short.get(w.name, 0)
    if short:
        reasons.append(f"spread: placed on {spec.min_sites - short} of {spec.min_sites} required sites; "
                       "no other feasible site has room")
    return list(dict.fromkeys(reasons))


RIVAL_POOLS = 16  # competitors are looked for on the pools a workload wanted most


def _competition(ctx: Context, holders: Mapping[int, list[str]], w: Workload, pools: list[int],
                 cost: Mapping[int, float] | None = None) -> list[str]:
    """Name higher-priority work that holds the pools `w` could have used (its cheapest
    RIVAL_POOLS pools when `cost` is given: on a big fleet that is where it was pushed out)."""
    fleet = ctx.compiled.fleet
    mine = w.spec.priority
    if cost is not None and len(pools) > RIVAL_POOLS:
        pools = pools[:RIVAL_POOLS]  # callers pass pools cheapest first
    rivals = sorted(
        {other for p in pools for other in holders.get(p, ()) if fleet.workloads[other].spec.priority > mine},
        key=lambda n: (-fleet.workloads[n].spec.priority, n),
    )
    if not rivals:
        return []
    shown = ", ".join(f"{n} (priority {fleet.workloads[n].spec.priority})" for n in rivals[:3])
    more = f" and {len(rivals) - 3} more" if len(rivals) > 3 else ""
    return [f"priority {w.spec.priority}: that capacity serves higher-priority work: {shown}{more}"]


def unserved_by_region(ctx: Context, cand: Candidates, placement: Placement) -> dict[str, float]:
    """Demand minus routed requests/s, per region (never silent, never negative)."""
    c = ctx.compiled
    routed: dict[int, float] = {}
    for (g, _s), rps in placement.routes.get(cand.name, {}).items():
        routed[g] = routed.get(g, 0.0) + rps
    out: dict[str, float] = {}
    for region, demand in cand.w.spec.demand.items():
        g_or_none = c.region_index.get(region)
        if g_or_none is None or demand <= 0:
            continue
        g = g_or_none
        left = float(demand) - routed.get(g, 0.0)
        if left > 1e-6 * max(1.0, float(demand)):
            out[region] = round(left, 3)
    return out


def replicas_for(cand: Candidates, unserved_rps: float) -> int:
    return ceil_div(unserved_rps, cand.rps_per_replica) if cand.rps_per_replica > 0 else 0


@dataclass(frozen=True)
class WorkloadExplanation:
    workload: str
    type: str
    priority: int
    needs: str  # "1 x H100-SXM|H200 >= 40 GB, 0.9 kW per replica; 2-16 replicas"
    policies: tuple[str, ...]
    summary: str  # the runner's "k/n sites are available: ..." line
    sites: tuple[SiteExplanation, ...]
    routes: tuple[tuple[str, str, float, float], ...]  # region, site, rps, latency ms
    unplaced_reasons: tuple[str, ...]
    unserved: dict[str, float]


def describe_needs(w: Workload) -> str:
    spec = w.spec
    shape = spec.replica
    skus = "|".join(shape.gpu_skus) if shape.gpu_skus else "any SKU"
    memory = f" >= {shape.gpu_memory_gb:g} GB" if shape.gpu_memory_gb else ""
    power = f", {shape.power_kw:g} kW" if shape.power_kw else ""
    if spec.is_job:
        gang = " as one gang on one site" if spec.max_sites == 1 and spec.is_gang else ""
        count = f"{spec.replicas.min} replica(s){gang}"
    else:
        hi = spec.replicas.max if spec.replicas.max is not None else "unbounded"
        count = f"{spec.replicas.min}-{hi} replicas"
    parts = [f"{shape.gpus} x {skus}{memory}{power} per replica", count]
    if spec.demand:
        demand = ", ".join(f"{r} {v:g}" for r, v in spec.demand.items())
        parts.append(f"demand {demand} rps at {spec.rps_per_replica:g} rps/replica")
    if spec.latency_slo_ms:
        parts.append(f"SLO {spec.latency_slo_ms:g} ms")
    if spec.min_sites > 1:
        parts.append(f"spread over >= {spec.min_sites} sites")
    if spec.max_sites is not None:
        parts.append(f"at most {spec.max_sites} site(s)")
    need = spec.interconnect
    if need is not None:
        fast = f" >= {need.min_gbps:g} Gb/s" if need.min_gbps else ""
        parts.append(f"interconnect {need.within_server} within a server, {need.between_servers}{fast} between servers")
    return "; ".join(parts)
