"""Invariants of every plan on random fleets (Hypothesis).

For any fleet: a plan never exceeds a GPU, power or cooling capacity, never breaks a
policy, SKU, memory or interconnect rule, routes only within SLO and only to replicas that can
carry the load, lists every shortfall with reasons; the vector and scalar filter
paths agree; the optimizer never serves less (priority-weighted) than greedy, and
never costs more when it serves as much; the same input gives the same plan.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetyard.placement import OptimizerOptions, Planner, PlanOptions, failover
from fleetyard.placement.check import check_plan
from fleetyard.placement.explain import unserved_by_region
from fleetyard.placement.filters import default_filters
from fleetyard.placement.framework import VectorFilter
from fleetyard.placement.milp import WorkLimits
from fleetyard.placement.model import build_model, model_cost
from fleetyard.placement.result import Placement
from fleetyard.spec import CATALOG
from tests.placement.builders import fleet, objective, policy, region, site, workload

METROS = [("DE", 50.11, 8.68), ("FR", 48.86, 2.35), ("NL", 52.37, 4.90), ("US", 40.71, -74.0),
          ("US", 41.88, -87.63), ("SG", 1.35, 103.82), ("JP", 35.68, 139.69)]
SKUS = list(CATALOG)
EXACT = OptimizerOptions(time_limit=30.0, mip_gap=1e-9, limits=WorkLimits(max_nodes=None))


# servers and fabrics of a pool, and interconnect needs of a job (issue 8)
SERVERS = st.sampled_from([{}, {"gpus_per_server": 4}, {"fabric": {"type": "roce", "gbps": 400}},
                           {"fabric": {"type": "infiniband", "gbps": 3200, "domain_servers": 1}},
                           {"gpus_per_server": 2, "fabric": {"type": "ethernet", "gbps": 100}}])
NEEDS = st.sampled_from([None, None, {"between_servers": "rdma"}, {"within_server": "nvlink"},
                         {"within_server": "gpu-link", "between_servers": "ethernet", "min_gbps": 400}])


@st.composite
def fleets(draw):
    regions = draw(st.lists(st.sampled_from(range(len(METROS))), min_size=1, max_size=3, unique=True))
    resources = [region(f"r{i}", METROS[m][1], METROS[m][2]) for i, m in enumerate(regions)]
    n_sites = draw(st.integers(2, 5))
    for i in range(n_sites):
        country, lat, lon = METROS[draw(st.integers(0, len(METROS) - 1))]
        skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=2, unique=True))
        gpus = {k: (draw(st.integers(1, 16)), draw(st.sampled_from([0.0, 0.5, 1.0, 2.5]))) for k in skus}
        servers = {k: draw(SERVERS) for k in skus}
        it_kw = draw(st.sampled_from([0.5, 2.0, 8.0, 30.0, 100.0]))
        cooling = draw(st.sampled_from([None, it_kw * 0.6]))
        resources.append(site(f"s{i}", country=country, lat=lat, lon=lon, gpus=gpus, it_kw=it_kw,
                              cooling=cooling, pue=draw(st.sampled_from([1.1, 1.4])),
                              price=draw(st.sampled_from([0.05, 0.2])), carbon=draw(st.sampled_from([30, 400])),
                              egress=draw(st.sampled_from([0.0, 0.09])),
                              type=draw(st.sampled_from(["small-dc", "colo", "edge", "hyperscaler"])),
                              servers=servers))
    n_work = draw(st.integers(1, 6))
    for i in range(n_work):
        kind = draw(st.sampled_from(["inference", "inference", "batch", "fine-tune", "training"]))
        gpus = draw(st.sampled_from([1, 1, 2, 4, 8]))
        memory = draw(st.sampled_from([None, 24, 48, 80]))
        skus = draw(st.one_of(st.none(), st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True)))
        labels = {"residency": "eu"} if draw(st.booleans()) else {}
        priority = draw(st.sampled_from([0, 10, 100, 1000]))
        if kind == "inference":
            lo = draw(st.integers(0, 2))
            hi = draw(st.one_of(st.none(), st.integers(max(lo, 1), 8)))
            demand = {f"r{j}": float(draw(st.integers(0, 60))) for j in range(len(regions)) if draw(st.booleans())}
            spread = {"min_sites": 2} if draw(st.booleans()) and (hi is None or hi >= 2) else None
            resources.append(workload(f"w{i}", gpus=gpus, memory=memory, skus=skus, replicas=(lo, hi),
                                      demand=demand or None, rps=float(draw(st.integers(5, 40))),
                                      slo=draw(st.sampled_from([None, 15.0, 60.0, 200.0])) if demand else None,
                                      spread=spread, priority=priority, labels=labels))
        else:
            n = draw(st.integers(1, 4))
            data = [(f"s{draw(st.integers(0, n_sites - 1))}", 5.0)] if draw(st.booleans()) else None
            resources.append(workload(f"w{i}", type=kind, gpus=gpus, memory=memory, skus=skus,
                                      replicas=(n, n), data=data, priority=priority, labels=labels,
                                      interconnect=draw(NEEDS)))
    if draw(st.booleans()):
        resources.append(policy("eu", {"residency": "eu"},
                                allowed={"countries": ["DE", "FR", "NL"]},
                                denied={"site_types": ["hyperscaler"]}))
    resources.append(objective(carbon_price=draw(st.sampled_from([0.0, 80.0]))))
    return fleet(*resources)


def weighted_shortfall(planner: Planner, placement: Placement) -> float:
    """Priority-weighted replicas short, in the optimizer's own units (GPUs x (1 + priority))."""
    total = 0.0
    for cand in planner.candidates:
        w = cand.w
        short = placement.missing.get(w.name, 0) + placement.spread_short.get(w.name, 0)
        for rps in unserved_by_region(planner.ctx, cand, placement).values():
            short += math.ceil(rps / cand.rps_per_replica - 1e-6)
        total += (1 + w.spec.priority) * cand.gpus * short
    return total


def placement_cost(planner: Planner, placement: Placement) -> float:
    """Cost of a placement under the optimizer's (linear) cost model."""
    total = 0.0
    for cand in planner.candidates:
        cost_of = dict(zip((int(p) for p in cand.pools), cand.cost, strict=True))
        for p, n in placement.replicas.get(cand.name, {}).items():
            total += n * float(cost_of[p])
    return total


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(fleets())
def test_every_plan_respects_every_rule(f):
    planner = Planner(f)
    for strategy in ("optimizer", "greedy"):
        plan = planner.plan(PlanOptions(strategy=strategy, optimizer=EXACT, resilience=False))
        assert check_plan(f, plan) == [], strategy
        assert plan.bound.cost_per_hour_lower_bound <= plan.totals.cost_per_hour + 1e-6 or strategy == "greedy"


@SETTINGS
@given(fleets())
def test_optimizer_never_serves_less_or_costs_more_than_greedy(f):
    planner = Planner(f)
    best = planner.place(PlanOptions(optimizer=EXACT))
    base = planner.place(PlanOptions(strategy="greedy"))
    w_best, w_base = weighted_shortfall(planner, best), weighted_shortfall(planner, base)
    assert w_best <= w_base + 1e-6
    if w_best == w_base:
        assert placement_cost(planner, best) <= placement_cost(planner, base) + 1e-6


@SETTINGS
@given(fleets())
def test_same_input_same_plan(f):
    one = Planner(f).plan(PlanOptions(resilience=False))
    two = Planner(f).plan(PlanOptions(resilience=False))
    assert one.model_dump(exclude={"solver"}) == two.model_dump(exclude={"solver"})


@SETTINGS
@given(fleets())
def test_vector_masks_agree_with_scalar_checks(f):
    planner = Planner(f)
    ctx = planner.ctx
    for w in f.workloads.values():
        for flt in default_filters():
            assert isinstance(flt, VectorFilter)
            scalar = np.array([not flt.check(ctx, w, p) for p in range(ctx.compiled.n_pools)])
            assert (flt.mask(ctx, w) == scalar).all(), flt.name


@SETTINGS
@given(fleets())
def test_every_rejected_site_has_a_reason(f):
    planner = Planner(f)
    for w in f.workloads.values():
        for verdict in planner.runner.evaluate(planner.ctx, w).sites:
            assert verdict.status.ok or verdict.status.reasons


@SETTINGS
@given(fleets())
def test_failover_keeps_every_rule(f):
    planner = Planner(f)
    placement = planner.place(PlanOptions(optimizer=EXACT))
    for name in list(f.sites)[:2]:
        result = failover(planner, placement, [name])
        plan = planner.to_plan(result.after, PlanOptions(resilience=False))
        assert check_plan(f, plan) == []
        assert not any(a.site == name for a in plan.assignments)


def test_model_cost_matches_the_reported_cost_without_egress():
    f = fleet(region("r0"), site("s0", gpus={"L4": (8, 1.0)}), workload("w", type="batch", replicas=(3, 3)))
    planner = Planner(f)
    placement = planner.place()
    built = build_model(planner.compiled, planner.compiled.full_ledger(), planner.candidates)
    assert placement.objective is not None
    x = np.zeros(built.lp.n_vars)
    x[built.workloads[0].pool_cols[0][0]] = 3
    assert model_cost(built, x) == placement.objective
    assert planner.plan().totals.cost_per_hour == round(placement.objective, 4)
