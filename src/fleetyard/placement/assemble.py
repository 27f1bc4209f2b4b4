"""Turn a `Placement` into the `Plan` users see: priced exactly, every shortfall explained."""

from __future__ import annotations

from collections.abc import Sequence

from fleetyard.placement.burstreport import PREMIUM_BOUND_NOTE, BurstAudit
from fleetyard.placement.candidates import Candidates
from fleetyard.placement.costmodel import CostBreakdown, plan_costs
from fleetyard.placement.explain import (
    pool_holders,
    replicas_for,
    unplaced_reasons,
    unserved_by_region,
    why_placed,
)
from fleetyard.placement.framework import Context
from fleetyard.placement.milp import relative_gap
from fleetyard.placement.result import Placement, StageResult
from fleetyard.placement.runner import Runner
from fleetyard.placement.usage import free_ledger
from fleetyard.placement.usage import used as used_ledger
from fleetyard.spec.plan import (
    Assignment,
    Bound,
    Plan,
    ResilienceEntry,
    Route,
    SiteUsage,
    SolverInfo,
    StageBound,
    Totals,
    Unplaced,
    WorkloadSummary,
)


def _r(v: float, digits: int = 4) -> float:
    return round(float(v), digits)


def assemble(
    ctx: Context,
    runner: Runner,
    cands: Sequence[Candidates],
    placement: Placement,
    resilience: Sequence[ResilienceEntry] = (),
    explain: bool = True,
    down: Sequence[int] = (),
) -> Plan:
    """Price and explain `placement`; sites in `down` have failed (no capacity)."""
    c = ctx.compiled
    fleet = c.fleet
    free = free_ledger(c, placement, down=down)
    holders = pool_holders(placement)
    usage = used_ledger(c, placement)
    triples = [(fleet.workloads[w], p, n) for w, pools in placement.replicas.items() for p, n in pools.items()]
    per_w, per_s = plan_costs(ctx.costs, triples)
    burst = BurstAudit(ctx, cands, placement, free)

    assignments = [
        Assignment(workload=w, site=c.site_names[int(c.pool_site[p])], gpu_sku=c.pool_sku[p], replicas=n)
        for w in fleet.workloads
        for p, n in sorted(placement.replicas.get(w, {}).items())
        if n > 0
    ]
    routes = [
        Route(workload=w, region=c.region_names[g], site=c.site_names[s], rps=_r(rps, 3),
              latency_ms=float(c.rtt[s, g]))
        for w in fleet.workloads
        for (g, s), rps in sorted(placement.routes.get(w, {}).items())
        if rps > 1e-9
    ]
    unplaced: list[Unplaced] = []
    by_name = {cand.name: cand for cand in cands}
    summaries: list[WorkloadSummary] = []
    demand_total = served_total = 0.0
    replicas_unplaced = 0
    for cand in cands:
        w = cand.w
        unserved = unserved_by_region(ctx, cand, placement)
        demand = sum(float(v) for v in w.spec.demand.values())
        demand_total += demand
        served_total += demand - sum(unserved.values())
        missing = placement.missing.get(w.name, 0)
        short_sites = placement.spread_short.get(w.name, 0)
        if missing or unserved or short_sites:
            n = max(missing, replicas_for(cand, sum(unserved.values())), short_sites)
            replicas_unplaced += n
            reasons = [*burst.reasons(cand),
                       *unplaced_reasons(ctx, runner, cand, placement, free, unserved, down, holders)]
            unplaced.append(Unplaced(workload=w.name, replicas=n, reasons=reasons, unserved=unserved))
        if explain:
            pools = placement.replicas.get(w.name, {})
            placed = ", ".join(
                f"{c.site_names[int(c.pool_site[p])]} {c.pool_sku[p]} x{n}" for p, n in sorted(pools.items())
            )
            summaries.append(WorkloadSummary(
                workload=w.name, type=w.spec.type, priority=w.spec.priority,
                replicas=sum(pools.values()), placed=placed or "-",
                why=why_placed(ctx, cand, placement, free)))

    sites: list[SiteUsage] = []
    for s, name in enumerate(c.site_names):
        site_pools = [int(p) for p in c.site_pools[s]]
        used = {c.pool_sku[p]: int(usage.gpus[p]) for p in site_pools}
        cost = per_s.get(s, CostBreakdown())
        sites.append(SiteUsage(
            site=name, gpus_used={k: v for k, v in used.items() if v}, it_kw=_r(cost.it_kw),
            gpus_total={c.pool_sku[p]: int(c.pool_count[p]) for p in site_pools},
            it_capacity_kw=float(c.it_capacity_kw[s]), cooling_kw=float(c.cooling_kw[s]),
            cost_per_hour=_r(cost.total), carbon_kg_per_hour=_r(cost.carbon_kg)))

    total = sum(per_w.values(), CostBreakdown())
    totals = Totals(
        cost_per_hour=_r(total.total), power_kw=_r(total.facility_kw), carbon_kg_per_hour=_r(total.carbon_kg),
        it_kw=_r(total.it_kw), gpu_rent_per_hour=_r(total.rent), energy_per_hour=_r(total.energy),
        carbon_cost_per_hour=_r(total.carbon_cost), egress_per_hour=_r(total.egress),
        gpus_used=int(sum(n * fleet.workloads[w].spec.replica.gpus for w, p, n in
                          ((w, p, n) for w, pools in placement.replicas.items() for p, n in pools.items()))),
        demand_rps=_r(demand_total, 3), served_rps=_r(served_total, 3),
        replicas_placed=sum(sum(p.values()) for p in placement.replicas.values()),
        replicas_unplaced=replicas_unplaced, preference_premium_per_hour=_r(burst.premium),
    )
    if placement.bound is not None and placement.objective is not None:
        # the bound is on the model's cost (egress per replica linearized, >= the exact
        # share formula), so it is also reported no higher than the plan's exact cost
        penalty = placement.penalty or 0.0
        whole = placement.objective + penalty
        lower = placement.objective_bound if placement.objective_bound is not None else placement.bound
        # the model's cost includes the burst preference premium: take this plan's off
        # both (the bound then holds for plans with no larger premium, docs/planning.md)
        cost_model = placement.objective - burst.premium
        cost_bound = max(0.0, placement.bound - burst.premium)
        method = placement.bound_method + (PREMIUM_BOUND_NOTE if burst.rules.has_preference else "")

        def stage(st: StageResult) -> StageBound:
            value, low, how = st.value, st.bound, st.method
            if st.stage == "cost":
                value, low = max(0.0, value - burst.premium), max(0.0, low - burst.premium)
                how += PREMIUM_BOUND_NOTE if burst.rules.has_preference else ""
            return StageBound(stage=st.stage, value=_r(value), bound=_r(low), gap=_r(st.gap, 6) if value == st.value
                              else _r(relative_gap(value, low), 6), status=st.status, method=how,
                              demand=_r(st.demand))

        bound = Bound(cost_per_hour_lower_bound=min(_r(cost_bound), _r(total.total)),
                      gap=_r(relative_gap(cost_model, cost_bound), 6),
                      method=method, shortfall_penalty_per_hour=_r(penalty),
                      objective_lower_bound=_r(lower), objective_gap=_r(relative_gap(whole, lower), 6),
                      stages=[stage(st) for st in placement.stages])
    else:
        bound = Bound(cost_per_hour_lower_bound=0.0, gap=1.0 if total.total > 0 else 0.0,
                      method=placement.bound_method or "none: this strategy proves no bound")
    solver = SolverInfo(strategy=placement.strategy, solver=placement.solver, status=placement.status,
                        seconds=_r(placement.seconds, 3), variables=placement.variables,
                        constraints=placement.constraints, notes=list(placement.notes),
                        stage_seconds={st.stage: _r(st.seconds, 3) for st in placement.stages})
    return Plan(assignments=assignments, routes=routes, unplaced=unplaced, sites=sites, totals=totals,
                bound=bound, resilience=list(resilience), workloads=summaries, solver=solver,
                burst=burst.report([u.workload for u in unplaced if burst.binding(by_name[u.workload])]))
