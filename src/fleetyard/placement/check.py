"""Verify a plan against the fleet's semantics, from the files alone.

`check_plan` re-derives every rule of DESIGN.md independently of the solvers:
capacities, policies, SKU and memory, interconnect (servers and fabric, by the rule of
`spec.interconnect`), gangs and spread, replica bounds, routes within SLO and within
the serving replicas' capacity, burst rules (`burstcheck`), and that every shortfall
is listed in `unplaced`. It returns violations as sentences (empty: the plan is
valid). The property tests run it on random fleets; `fleetyard check` runs it on a plan file.
"""

from __future__ import annotations

from collections import defaultdict

from fleetyard.placement.burstcheck import check_burst
from fleetyard.placement.candidates import ceil_div
from fleetyard.spec.catalog import SERVER_POWER_FACTOR
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.geo import rtt_ms
from fleetyard.spec.interconnect import pool_shape, shortfalls
from fleetyard.spec.models import GpuPool, Site, Workload
from fleetyard.spec.plan import Plan

TOL = 1e-6


def _pool(site: Site, sku: str) -> GpuPool | None:
    return next((p for p in site.spec.gpus if p.sku == sku), None)


def _allowed(fleet: Fleet, w: Workload, site: Site) -> list[str]:
    out = []
    for p in fleet.policies_for(w):
        a, d = p.spec.allowed, p.spec.denied
        if a.countries is not None and site.spec.country not in a.countries:
            out.append(p.name)
        elif d.countries and site.spec.country in d.countries:
            out.append(p.name)
        elif a.site_types is not None and site.spec.type not in a.site_types:
            out.append(p.name)
        elif d.site_types and site.spec.type in d.site_types:
            out.append(p.name)
        elif a.sites is not None and site.name not in a.sites:
            out.append(p.name)
        elif d.sites and site.name in d.sites:
            out.append(p.name)
    return out


def replica_power(fleet: Fleet, w: Workload, pool: GpuPool) -> float:
    if w.spec.replica.power_kw is not None:
        return float(w.spec.replica.power_kw)
    return w.spec.replica.gpus * fleet.gpu_model(pool).tdp_w * SERVER_POWER_FACTOR / 1000.0


def _fabric(fleet: Fleet, w: Workload, placed: dict[tuple[str, str], int]) -> list[str]:
    """The interconnect rule: a one-site gang's replicas together, any other replica alone."""
    out = []
    together = w.spec.is_gang and w.spec.max_sites == 1
    for (site_name, sku), n in placed.items():
        pool = _pool(fleet.sites[site_name], sku)
        if pool is None or n <= 0:
            continue
        unit = n if together else 1
        for short in shortfalls(w.spec.interconnect, unit, w.spec.replica.gpus, pool_shape(fleet, pool)):
            out.append(f"{w.name} on {site_name}: {short.message}")
    return out


def check_plan(fleet: Fleet, plan: Plan) -> list[str]:
    fleet = fleet.always_on()  # deferrable work is scheduled in time, not placed (issue 11)
    bad: list[str] = []
    gpus_used: dict[tuple[str, str], int] = defaultdict(int)
    kw_used: dict[str, float] = defaultdict(float)
    by_w: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for a in plan.assignments:
        w = fleet.workloads.get(a.workload)
        site = fleet.sites.get(a.site)
        if w is None or site is None:
            bad.append(f"assignment names unknown workload or site: {a}")
            continue
        pool = _pool(site, a.gpu_sku)
        if pool is None:
            bad.append(f"{a.workload}: site {a.site} has no {a.gpu_sku}")
            continue
        if a.replicas <= 0:
            bad.append(f"{a.workload}: non-positive replicas at {a.site}")
        shape = w.spec.replica
        gpus_used[(a.site, a.gpu_sku)] += a.replicas * shape.gpus
        kw_used[a.site] += a.replicas * replica_power(fleet, w, pool)
        by_w[a.workload][(a.site, a.gpu_sku)] = by_w[a.workload].get((a.site, a.gpu_sku), 0) + a.replicas
        if shape.gpu_skus is not None and a.gpu_sku not in shape.gpu_skus:
            bad.append(f"{a.workload}: {a.gpu_sku} not in its allowed SKUs")
        if shape.gpu_memory_gb is not None and fleet.gpu_model(pool).memory_gb < shape.gpu_memory_gb:
            bad.append(f"{a.workload}: {a.gpu_sku} memory below {shape.gpu_memory_gb} GB")
        denied = _allowed(fleet, w, site)
        if denied:
            bad.append(f"{a.workload}: site {a.site} not allowed by policy {', '.join(denied)}")
    for (site_name, sku), used in gpus_used.items():
        pool = _pool(fleet.sites[site_name], sku)
        if pool is not None and used > pool.count:
            bad.append(f"{site_name} {sku}: {used} GPUs used > {pool.count}")
    for site_name, kw in kw_used.items():
        site_spec = fleet.sites[site_name].spec
        if kw > site_spec.power.it_capacity_kw + TOL:
            bad.append(f"{site_name}: IT load {kw:.3f} kW > capacity {site_spec.power.it_capacity_kw} kW")
        if kw > site_spec.cooling_capacity_kw + TOL:
            bad.append(f"{site_name}: IT load {kw:.3f} kW > cooling {site_spec.cooling_capacity_kw} kW")

    unplaced = {u.workload: u for u in plan.unplaced}
    routed: dict[tuple[str, str], float] = defaultdict(float)
    at_site: dict[tuple[str, str], float] = defaultdict(float)
    for r in plan.routes:
        w = fleet.workloads.get(r.workload)
        if w is None or r.site not in fleet.sites or r.region not in fleet.regions:
            bad.append(f"route names unknown workload, site or region: {r}")
            continue
        rtt = rtt_ms(fleet.sites[r.site], fleet.regions[r.region])
        slo = w.spec.latency_slo_ms
        if slo is not None and rtt > slo + TOL:
            bad.append(f"{r.workload}: route {r.region}->{r.site} at {rtt} ms exceeds the {slo} ms SLO")
        if r.rps < -TOL:
            bad.append(f"{r.workload}: negative route")
        routed[(r.workload, r.region)] += r.rps
        at_site[(r.workload, r.site)] += r.rps

    for name, workload in fleet.workloads.items():
        spec = workload.spec
        placed = by_w.get(name, {})
        total = sum(placed.values())
        sites = {s for s, _ in placed}
        skus = {k for _, k in placed}
        listed = unplaced.get(name)
        if spec.replicas.max is not None and total > spec.replicas.max and not spec.is_job:
            bad.append(f"{name}: {total} replicas > replicas.max {spec.replicas.max}")
        if spec.is_job and total > spec.replicas.min:
            bad.append(f"{name}: job runs {total} replicas, more than its size {spec.replicas.min}")
        if total < spec.replicas.min and listed is None:
            bad.append(f"{name}: {total} < replicas.min {spec.replicas.min} but not listed as unplaced")
        if spec.max_sites is not None and len(sites) > spec.max_sites:
            bad.append(f"{name}: on {len(sites)} sites > max_sites {spec.max_sites}")
        if total and len(sites) < spec.min_sites and listed is None:
            bad.append(f"{name}: on {len(sites)} sites < spread.min_sites {spec.min_sites}, not listed")
        if spec.interconnect is not None:
            bad.extend(_fabric(fleet, workload, placed))
        if spec.is_gang and len(skus) > 1:
            bad.append(f"{name}: gang split across SKUs {sorted(skus)}")
        if spec.is_gang and spec.max_sites == 1 and 0 < total < spec.replicas.min:
            bad.append(f"{name}: partial gang ({total} of {spec.replicas.min})")
        rpr = spec.rps_per_replica or 0.0
        for s in sites:
            replicas_here = sum(n for (site, _), n in placed.items() if site == s)
            if at_site.get((name, s), 0.0) > replicas_here * rpr + 1e-4:
                bad.append(f"{name}: {at_site[(name, s)]:.3f} rps routed to {s} > {replicas_here} x {rpr}")
        for (wn, s), rps in at_site.items():
            if wn == name and s not in sites and rps > TOL:
                bad.append(f"{name}: {rps} rps routed to {s} where it runs no replica")
        for region, demand in spec.demand.items():
            got = routed.get((name, region), 0.0)
            if got > demand + 1e-4:
                bad.append(f"{name}: {got:.3f} rps routed from {region} > demand {demand}")
            missing = demand - got
            if missing > 1e-4 * max(1.0, demand):
                shown = listed.unserved.get(region, 0.0) if listed else 0.0
                if abs(shown - missing) > 1e-3 * max(1.0, demand):
                    bad.append(f"{name}: {missing:.3f} rps of {region} unserved but listed as {shown}")
                if listed is not None and ceil_div(missing, rpr) > 0 and listed.replicas < 1:
                    bad.append(f"{name}: unserved demand listed with 0 replicas")
        if listed is not None and not listed.reasons:
            bad.append(f"{name}: listed as unplaced without reasons")
    bad.extend(check_burst(fleet, plan))
    return bad
