"""Verify a plan's burst rules from the files alone (part of `check.check_plan`).

Re-derived independently of the planner: no `spec.burst: never` workload on a burst
site, and the real hourly cost of work on burst sites (rent + energy + carbon, plus
each workload's egress by the share of its replicas there) within every cap.
"""

from __future__ import annotations

from collections import defaultdict

from fleetyard.spec.catalog import SERVER_POWER_FACTOR
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import Plan

CAP_TOL = 1e-4  # relative (and $/h absolute below $1/h): solver tolerances


def check_burst(fleet: Fleet, plan: Plan) -> list[str]:
    spec = fleet.objective.spec.burst
    burst_types = set(spec.burst_site_types) if spec is not None else {"hyperscaler"}
    carbon_price = fleet.objective.spec.carbon_price_per_tonne
    bad: list[str] = []
    replicas: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # w -> site -> n
    spend_of: dict[str, float] = defaultdict(float)  # w -> $/h on burst sites, before egress
    for a in plan.assignments:
        w, site = fleet.workloads.get(a.workload), fleet.sites.get(a.site)
        if w is None or site is None:
            continue  # check_plan reports it
        pool = next((p for p in site.spec.gpus if p.sku == a.gpu_sku), None)
        if pool is None:
            continue
        replicas[a.workload][a.site] += a.replicas
        if site.spec.type not in burst_types:
            continue
        if w.spec.burst == "never":
            bad.append(f"{a.workload}: runs on burst site {a.site} ({site.spec.type}) but has spec.burst: never")
        shape = w.spec.replica
        power = (float(shape.power_kw) if shape.power_kw is not None
                 else shape.gpus * fleet.gpu_model(pool).tdp_w * SERVER_POWER_FACTOR / 1000.0)
        facility = power * site.spec.power.pue
        per_replica = (shape.gpus * pool.price_per_gpu_hour + facility * site.spec.energy.price_per_kwh
                       + facility * site.spec.energy.carbon_g_per_kwh / 1e6 * carbon_price)
        spend_of[a.workload] += a.replicas * per_replica
    for name, by_site in replicas.items():
        w = fleet.workloads[name]
        total = sum(by_site.values())
        here = sum(n for s, n in by_site.items() if fleet.sites[s].spec.type in burst_types)
        if not here or not total:
            continue
        for source in w.spec.data:
            data_site = fleet.sites.get(source.site)
            if data_site is None:
                continue
            away = total - by_site.get(source.site, 0)
            spend_of[name] += source.gb_per_hour * data_site.spec.egress_price_per_gb * away / total * here / total
    if spec is None:
        return bad
    total_spend = sum(spend_of.values())
    caps: list[tuple[str, float, float]] = []
    if spec.max_spend_per_hour is not None:
        caps.append(("fleet-wide", total_spend, float(spec.max_spend_per_hour)))
    for team, limit in sorted(spec.per_team.items()):
        spent = sum(v for n, v in spend_of.items() if fleet.workloads[n].labels.get("team") == team)
        caps.append((f"team {team}", spent, float(limit)))
    for label, spent, limit in caps:
        if spent > limit + CAP_TOL * max(1.0, limit):
            bad.append(f"{label} burst spend ${spent:,.4f}/h exceeds its cap ${limit:,.2f}/h")
    if plan.burst is not None and abs(plan.burst.spend_per_hour - total_spend) > 1e-3 * max(1.0, total_spend):
        bad.append(f"burst.spend_per_hour {plan.burst.spend_per_hour} but the assignments spend {total_spend:.4f}")
    return bad
