"""The cost model's formulas, by hand."""

from __future__ import annotations

import pytest

from fleetyard.placement.context import compile_fleet
from fleetyard.placement.costmodel import CostModel, plan_costs
from tests.placement.builders import fleet, objective, region, site, workload


def _model(carbon_price=100.0):
    f = fleet(
        region("eu"),
        site("a", gpus={"H100-SXM": (8, 2.0)}, pue=1.25, price=0.2, carbon=400, egress=0.09),
        site("b", gpus={"H100-SXM": (8, 3.0)}, pue=1.5, price=0.1, carbon=50),
        workload("w", type="batch", power_kw=1.0, replicas=(2, 2), data=[("a", 10.0)]),
        workload("tdp", type="batch", gpus=2),
        objective(carbon_price),
    )
    c = compile_fleet(f)
    return f, c, CostModel(c)


def test_replica_cost_parts():
    f, _, m = _model()
    costs = m.replica_costs(f.workloads["w"])
    a, b = 0, 1
    assert costs.rent[a] == pytest.approx(2.0)
    assert costs.energy[a] == pytest.approx(1.0 * 1.25 * 0.2)
    assert costs.carbon_kg[a] == pytest.approx(1.0 * 1.25 * 400 / 1000)
    assert costs.carbon_cost[a] == pytest.approx(0.5 / 1000 * 100)
    assert costs.egress[a] == 0.0
    # away from the data: gb/h x price / replicas.min, per replica
    assert costs.egress[b] == pytest.approx(10.0 * 0.09 / 2)
    assert costs.total[a] == pytest.approx(2.0 + 0.25 + 0.05)


def test_default_replica_power_is_gpus_times_tdp_times_server_factor():
    f, _, m = _model()
    costs = m.replica_costs(f.workloads["tdp"])
    assert costs.power_kw[0] == pytest.approx(2 * 700 * 1.8 / 1000)


def test_plan_costs_exact_egress_share_and_site_totals():
    f, _, m = _model(carbon_price=0.0)
    w = f.workloads["w"]
    per_w, per_s = plan_costs(m, [(w, 0, 1), (w, 1, 1)])
    # one of two replicas reads remotely: half of 10 GB/h at $0.09
    assert per_w["w"].egress == pytest.approx(0.45)
    assert per_w["w"].rent == pytest.approx(2.0 + 3.0)
    assert per_w["w"].it_kw == pytest.approx(2.0)
    assert per_w["w"].facility_kw == pytest.approx(1.25 + 1.5)
    assert per_s[0].total + per_s[1].total == pytest.approx(per_w["w"].total)
    assert per_w["w"].carbon_cost == 0.0


def test_carbon_price_defaults_to_the_objective():
    f, c, m = _model(carbon_price=80.0)
    assert m.carbon_price_per_tonne == 80.0
    assert CostModel(c, carbon_price_per_tonne=0.0).replica_costs(f.workloads["w"]).carbon_cost.sum() == 0.0
