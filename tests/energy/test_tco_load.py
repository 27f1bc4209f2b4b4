"""The planned load that TCO prices (energy/tco_load.py), from a plan written out by hand."""

from __future__ import annotations

import pytest

from fleetyard.energy.tco_load import TcoInputError, planned_load
from fleetyard.spec import load_fleet_text
from fleetyard.spec.plan import Assignment, Bound, Plan, SiteUsage, Totals
from tests.energy.tco_fleet import REGION, SITES, WORKLOADS


def _fleet(extra: str = ""):
    docs = [REGION, SITES, WORKLOADS] + ([extra] if extra else [])
    return load_fleet_text("---\n".join(docs), "fleet.yaml").fleet


def _plan(fra_kw: float = 5.1, aws_kw: float = 5.1, par_kw: float = 0.0) -> Plan:
    """chat: 2 x 1 GPU at fra-1; crunch: 3 x 2 GPUs, one replica at fra-1 and two at aws-eu."""
    return Plan(
        assignments=[Assignment(workload="chat", site="fra-1", gpu_sku="H100-SXM", replicas=2),
                     Assignment(workload="crunch", site="fra-1", gpu_sku="H100-SXM", replicas=1),
                     Assignment(workload="crunch", site="aws-eu", gpu_sku="H100-SXM", replicas=2)],
        routes=[], unplaced=[],
        sites=[SiteUsage(site="fra-1", gpus_used={"H100-SXM": 4}, it_kw=fra_kw),
               SiteUsage(site="par-1", gpus_used={}, it_kw=par_kw),
               SiteUsage(site="aws-eu", gpus_used={"H100-SXM": 4}, it_kw=aws_kw)],
        totals=Totals(cost_per_hour=0.0, power_kw=0.0, carbon_kg_per_hour=0.0),
        bound=Bound(cost_per_hour_lower_bound=0.0, gap=0.0),
    )


def test_gpus_kw_sites_from_the_plan():
    load = planned_load(_fleet(), _plan())
    assert dict(load.gpus) == {"H100-SXM": 8}
    assert load.it_kw == pytest.approx(10.2)
    assert load.sites == 2  # par-1 runs nothing


def test_energy_is_weighted_over_own_sites_only():
    # aws-eu's price is 0 (its rent includes power): only fra-1 counts, 1.25 x 0.17
    assert planned_load(_fleet(), _plan()).energy_per_it_kwh == pytest.approx(0.2125)
    # fra-1 5.1 kW at 1.25 x 0.17, par-1 2 kW at 1.5 x 0.21, weighted by IT kW
    both = planned_load(_fleet(), _plan(par_kw=2.0))
    assert both.energy_per_it_kwh == pytest.approx((5.1 * 0.2125 + 2.0 * 0.315) / 7.1)
    # all rented: the fleet's own sites by capacity (fra-1 40 kW, par-1 10 kW)
    rented = planned_load(_fleet(), _plan(fra_kw=0.0))
    assert rented.energy_per_it_kwh == pytest.approx((40 * 0.2125 + 10 * 0.315) / 50)
    given = _fleet("apiVersion: fleetyard/v1\nkind: CostModel\nmetadata: {name: c}\n"
                   "spec: {energy: {price_per_kwh: 0.10, pue: 1.1}}\n")
    assert planned_load(given, _plan()).energy_per_it_kwh == pytest.approx(0.11)


def test_utilization_is_the_gpu_weighted_mix_unless_given():
    load = planned_load(_fleet(), _plan())
    # 2 inference GPUs at 0.5, 6 job GPUs at 0.85
    assert load.utilization == pytest.approx((2 * 0.5 + 6 * 0.85) / 8)
    assert any("2 inference GPUs at 50%, 6 job GPUs at 85%" in n for n in load.notes)
    assert planned_load(_fleet(), _plan(), utilization=0.3).utilization == 0.3
    planned = _fleet("apiVersion: fleetyard/v1\nkind: CostModel\nmetadata: {name: c}\n"
                     "spec: {utilization: {planned: 0.7}}\n")
    assert planned_load(planned, _plan()).utilization == 0.7
    assert planned_load(planned, _plan(), utilization=0.4).utilization == 0.4  # the command line wins


def test_egress_from_the_workloads_data_or_the_cost_model():
    load = planned_load(_fleet(), _plan(), utilization=0.5)
    # crunch reads 6 GB/h: 6 GB/h / 8 GPUs per used GPU-hour; 6 x 730 h x 0.5 a month
    assert load.egress_gb_per_gpu_hour == pytest.approx(6 / 8)
    assert load.egress_gb_per_month == pytest.approx(6 * 730 * 0.5)
    given = _fleet("apiVersion: fleetyard/v1\nkind: CostModel\nmetadata: {name: c}\n"
                   "spec: {egress_gb_per_month: 10000}\n")
    load = planned_load(given, _plan(), utilization=0.5)
    assert load.egress_gb_per_month == pytest.approx(10_000)
    assert load.egress_gb_per_gpu_hour == pytest.approx(10_000 / (8 * 730 * 0.5))


def test_nothing_to_price_is_an_input_error():
    empty = _plan().model_copy(update={"assignments": [], "sites": [SiteUsage(site="fra-1", gpus_used={}, it_kw=0)]})
    with pytest.raises(TcoInputError, match="places no GPUs"):
        planned_load(_fleet(), empty)
    cloud_only = load_fleet_text("---\n".join([REGION, SITES.split("---\n")[2]]), "f.yaml").fleet
    plan = _plan().model_copy(update={"sites": [SiteUsage(site="aws-eu", gpus_used={"H100-SXM": 4}, it_kw=5.1)]})
    with pytest.raises(TcoInputError, match=r"spec\.energy\.price_per_kwh"):
        planned_load(cloud_only, plan)
