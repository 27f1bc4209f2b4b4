"""The global optimizer on small fleets whose best plan is known by hand."""

from __future__ import annotations

import pytest

from fleetyard.placement import Planner, PlanOptions
from fleetyard.placement.check import check_plan
from fleetyard.spec.plan import Plan
from tests.placement.builders import fleet, region, site, workload


def _plan(f, strategy="optimizer") -> Plan:
    plan = Planner(f).plan(PlanOptions(strategy=strategy, resilience=False))
    assert check_plan(f, plan) == []
    return plan


def _where(plan: Plan) -> dict[tuple[str, str, str], int]:
    return {(a.workload, a.site, a.gpu_sku): a.replicas for a in plan.assignments}


def test_cheapest_site_wins():
    f = fleet(region("eu"), site("a", gpus={"H100-SXM": (8, 1.0)}), site("b", gpus={"H100-SXM": (8, 2.0)}),
              workload("job", type="batch", replicas=(4, 4)))
    plan = _plan(f)
    assert _where(plan) == {("job", "a", "H100-SXM"): 4}
    assert plan.unplaced == []
    assert plan.bound.cost_per_hour_lower_bound <= plan.totals.cost_per_hour + 1e-6
    assert plan.bound.gap <= 0.002


def test_gpu_count_power_and_cooling_split_the_work():
    f = fleet(region("eu"),
              site("gpus", gpus={"H100-SXM": (3, 1.0)}),
              site("power", gpus={"H100-SXM": (8, 1.1)}, it_kw=2.0),
              site("cool", gpus={"H100-SXM": (8, 1.2)}, it_kw=10.0, cooling=1.5),
              site("dear", gpus={"H100-SXM": (8, 5.0)}),
              workload("job", type="batch", power_kw=1.0, replicas=(8, 8)))
    assert _where(_plan(f)) == {("job", "gpus", "H100-SXM"): 3, ("job", "power", "H100-SXM"): 2,
                                ("job", "cool", "H100-SXM"): 1, ("job", "dear", "H100-SXM"): 2}


def test_gang_runs_on_one_site_and_one_sku():
    f = fleet(region("eu"),
              site("mixed", gpus={"H100-SXM": (4, 1.0), "H200": (4, 1.0)}),
              site("whole", gpus={"H100-SXM": (8, 3.0)}),
              workload("train", type="training", gpus=4, replicas=(2, 2)))
    assert _where(_plan(f)) == {("train", "whole", "H100-SXM"): 2}


def test_priority_decides_when_capacity_is_short():
    f = fleet(region("eu"), site("a", gpus={"H100-SXM": 4}),
              workload("low", type="batch", replicas=(4, 4), priority=10),
              workload("high", type="batch", replicas=(4, 4), priority=100))
    plan = _plan(f)
    assert _where(plan) == {("high", "a", "H100-SXM"): 4}
    (short,) = plan.unplaced
    assert short.workload == "low" and short.replicas == 4
    assert any("capacity" in r for r in short.reasons)
    assert any("higher-priority work: high (priority 100)" in r for r in short.reasons)


def test_spread_over_min_sites():
    f = fleet(region("eu"), site("a", gpus={"L4": (8, 0.5)}), site("b", gpus={"L4": (8, 0.9)}),
              workload("api", replicas=(2, 4), spread={"min_sites": 2}))
    assert _where(_plan(f)) == {("api", "a", "L4"): 1, ("api", "b", "L4"): 1}


def test_latency_slo_routing_per_region():
    f = fleet(region("eu", 50.11, 8.68), region("us", 40.7, -74.0),
              site("fra", gpus={"L4": 8}), site("nyc", country="US", lat=40.7, lon=-74.0, gpus={"L4": 8}),
              workload("api", replicas=(1, 10), demand={"eu": 30, "us": 15}, rps=10, slo=30))
    plan = _plan(f)
    assert _where(plan) == {("api", "fra", "L4"): 3, ("api", "nyc", "L4"): 2}
    routes = {(r.region, r.site): r.rps for r in plan.routes}
    assert routes == {("eu", "fra"): 30.0, ("us", "nyc"): 15.0}
    assert all(r.latency_ms <= 30 for r in plan.routes)


def test_demand_beyond_replicas_max_is_listed_as_unserved():
    f = fleet(region("eu"), site("a", gpus={"L4": 16}),
              workload("api", replicas=(1, 2), demand={"eu": 35}, rps=10, slo=50))
    plan = _plan(f)
    assert _where(plan) == {("api", "a", "L4"): 2}
    (short,) = plan.unplaced
    assert short.unserved == {"eu": 15.0}
    assert any("replicas.max (2) reached" in r for r in short.reasons)


def test_no_feasible_site_lists_every_reason_kind():
    f = fleet(region("eu"), site("a", gpus={"L4": 8}),
              workload("big", type="fine-tune", gpus=8, memory=80, replicas=(1, 1)))
    plan = _plan(f)
    (short,) = plan.unplaced
    assert short.reasons == ["0/1 sites are available: 1 GPU memory < 80 GB"]


def test_optimizer_beats_greedy_where_greedy_blocks_a_gang():
    # Greedy places the high-priority service on the cheap big site first and then
    # no site has 8 free GPUs for the gang; the optimizer places both.
    f = fleet(region("eu"),
              site("big", gpus={"H100-SXM": (8, 1.0)}), site("small", gpus={"H100-SXM": (4, 2.0)}),
              workload("svc", replicas=(4, 4), priority=100),
              workload("train", type="training", gpus=8, replicas=(1, 1), priority=50))
    greedy = _plan(f, "greedy")
    best = _plan(f)
    assert [u.workload for u in greedy.unplaced] == ["train"]
    assert best.unplaced == []
    assert _where(best) == {("svc", "small", "H100-SXM"): 4, ("train", "big", "H100-SXM"): 1}


def test_same_input_same_plan():
    f = fleet(region("eu"), region("us", 40.7, -74.0),
              site("a", gpus={"L4": 8, "H100-SXM": 8}), site("b", gpus={"L4": 8}),
              site("c", country="US", lat=40.7, lon=-74.0, gpus={"L40S": 8}),
              workload("x", demand={"eu": 33, "us": 12}, rps=7, slo=150, replicas=(1, 20)),
              workload("y", type="batch", replicas=(5, 5)),
              workload("z", type="fine-tune", gpus=4, replicas=(2, 2)))
    first = Planner(f).plan(PlanOptions(resilience=False))
    second = Planner(f).plan(PlanOptions(resilience=False))
    assert first.assignments == second.assignments and first.routes == second.routes


@pytest.mark.parametrize("strategy", ["optimizer", "greedy"])
def test_plan_json_has_the_contract_fields(strategy):
    f = fleet(region("eu"), site("a"), workload("x", demand={"eu": 5}, rps=10, slo=50))
    data = Planner(f).plan(PlanOptions(strategy=strategy)).model_dump()
    for key in ("assignments", "routes", "unplaced", "sites", "totals", "bound", "resilience"):
        assert key in data
    assert set(data["assignments"][0]) >= {"workload", "site", "gpu_sku", "replicas"}
    assert set(data["routes"][0]) >= {"workload", "region", "site", "rps", "latency_ms"}
    assert set(data["sites"][0]) >= {"site", "gpus_used", "it_kw"}
    assert set(data["totals"]) >= {"cost_per_hour", "power_kw", "carbon_kg_per_hour"}
    assert set(data["bound"]) >= {"cost_per_hour_lower_bound", "gap"}
    assert set(data["resilience"][0]) >= {"failed_site", "absorbable", "unplaced"}
