"""Found against declared, and planning with min(declared, found) (spec/inventory.py; issue 14)."""

from __future__ import annotations

from fleetyard.placement import Planner, PlanOptions
from fleetyard.spec import load_fleet_sources
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.inventory import AttestedPool, GpuDrift, attested_fleet, compare, cut_fleet, declared_counts
from tests.attestation.fleetyaml import fleet_yaml


def _fleet(**kw: object) -> Fleet:
    return load_fleet_sources([("fleet.yaml", fleet_yaml(**kw))]).fleet  # type: ignore[arg-type]


def _placed(fleet: Fleet) -> dict[str, int]:
    plan = Planner(fleet).plan(PlanOptions(resilience=False))
    out: dict[str, int] = {}
    for a in plan.assignments:
        out[a.site] = out.get(a.site, 0) + a.replicas
    return out


def test_compare_names_every_sku_that_differs() -> None:
    assert compare({"L4": 4, "H100-SXM": 8}, {"L4": 4, "H100-SXM": 8}) == []
    assert compare({"L4": 4, "H100-SXM": 8}, {"L4": 2, "NVIDIA H100 NVL": 1, "H100-SXM": 8}) == [
        GpuDrift("L4", 4, 2), GpuDrift("NVIDIA H100 NVL", 0, 1)]
    assert [d.describe() for d in compare({"L4": 4}, {"L4": 2, "L40S": 1})] == [
        "L4: declared 4, found 2", "L40S: 1 found, none declared"]


def test_the_plan_uses_only_the_gpus_found() -> None:
    fleet = _fleet()
    assert _placed(fleet) == {"fra-1": 4}  # all at the cheap site while its 4 L4 count
    cut, cuts = attested_fleet(fleet, {"fra-1": {"L4": 2}})
    assert cuts == [AttestedPool("fra-1", "L4", 4, 2)]
    assert declared_counts(cut.sites["fra-1"]) == {"L4": 2}
    assert _placed(cut) == {"fra-1": 2, "par-1": 2}
    assert fleet.sites["fra-1"].spec.gpus[0].count == 4  # the input fleet is untouched


def test_more_found_than_declared_adds_nothing_and_unreported_sites_keep_theirs() -> None:
    fleet = _fleet()
    same, cuts = attested_fleet(fleet, {"fra-1": {"L4": 6, "H100-SXM": 8}})
    assert cuts == [] and same is fleet


def test_a_site_with_none_of_its_gpus_leaves_the_planned_fleet() -> None:
    cut, cuts = attested_fleet(_fleet(), {"fra-1": {}})
    assert cuts == [AttestedPool("fra-1", "L4", 4, 0)] and "fra-1" not in cut.sites
    assert _placed(cut) == {"par-1": 4}


def test_only_the_cut_sku_shrinks_and_the_pool_keeps_its_price() -> None:
    fleet = _fleet(fra_gpus=[{"sku": "L4", "count": 4, "price_per_gpu_hour": 0.5}, {"sku": "L40S", "count": 1}])
    cut = cut_fleet(fleet, [AttestedPool("fra-1", "L4", 4, 3)])
    assert [(p.sku, p.count, p.price_per_gpu_hour) for p in cut.sites["fra-1"].spec.gpus] == [
        ("L4", 3, 0.5), ("L40S", 1, 0.0)]
    gone = cut_fleet(fleet, [AttestedPool("fra-1", "L40S", 1, 0)])
    assert [p.sku for p in gone.sites["fra-1"].spec.gpus] == ["L4"]
