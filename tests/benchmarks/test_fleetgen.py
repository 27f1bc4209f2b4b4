"""The benchmark's fleet generator: deterministic, valid, and loadable from the YAML it writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fleetyard.spec import load_fleet
from fleetyard.spec.validate import check_fleet

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fleetgen


def test_same_seed_gives_the_same_fleet() -> None:
    a = fleetgen.generate(20, 200, seed=7)
    b = fleetgen.generate(20, 200, seed=7)
    assert a == b
    assert list(a.sites) == list(b.sites)
    assert list(a.workloads) == list(b.workloads)
    assert fleetgen.documents(20, 200, seed=7) == fleetgen.documents(20, 200, seed=7)


def test_different_seed_gives_a_different_fleet() -> None:
    a = fleetgen.generate(20, 200, seed=0)
    b = fleetgen.generate(20, 200, seed=1)
    assert a != b
    assert [s.spec for s in a.sites.values()] != [s.spec for s in b.sites.values()]


@pytest.mark.parametrize(("sites", "workloads"), [(20, 200), (50, 500)])
def test_generated_fleets_are_valid(sites: int, workloads: int) -> None:
    fleet = fleetgen.generate(sites, workloads, seed=0)
    problems = check_fleet(fleet)
    assert [p for p in problems if p.severity == "error"] == []
    assert problems == []  # not even a warning (every policy selects something)
    assert len(fleet.sites) == sites
    assert len(fleet.workloads) == workloads


def test_structure_is_realistic() -> None:
    fleet = fleetgen.generate(50, 500, seed=0)
    info = fleetgen.describe(fleet)
    assert 8 <= info["regions"] <= 40
    assert set(info["site_types"]) == {"small-dc", "colo", "edge", "hyperscaler"}
    assert set(info["mix"]) == {"inference", "fine-tune", "training", "batch"}
    assert info["mix"]["inference"] > info["mix"]["batch"] > 0
    for site in fleet.sites.values():
        spec = site.spec
        assert 1.0 <= spec.power.pue <= 1.6
        if spec.type == "hyperscaler":
            assert spec.egress_price_per_gb == 0.09
            assert all(p.price_per_gpu_hour > 0 for p in spec.gpus)
        if spec.type == "small-dc":
            assert 8 <= sum(p.count for p in spec.gpus) <= 256
        if spec.type == "edge":
            assert {p.sku for p in spec.gpus} <= {"L4", "L40S"}
    eu = fleet.policies["eu-residency"].spec.allowed
    assert eu.site_types is not None and "hyperscaler" not in eu.site_types
    assert any(w.labels.get("residency") == "eu" for w in fleet.workloads.values())
    assert {w.spec.priority for w in fleet.workloads.values()} <= {10, 100, 500, 1000}
    assert any(w.spec.data for w in fleet.workloads.values())


@pytest.mark.parametrize("tightness", [0.75, 1.1])
def test_tightness_sets_demand_against_supply(tightness: float) -> None:
    info = fleetgen.describe(fleetgen.generate(20, 200, seed=0, tightness=tightness))
    assert info["demand_ratio"] == pytest.approx(tightness, abs=0.08)


def test_written_yaml_loads_into_an_equal_fleet(tmp_path: Path) -> None:
    docs = fleetgen.documents(20, 200, seed=3)
    files = fleetgen.write(docs, tmp_path)
    assert {f.name for f in files} >= {"regions.yaml", "sites.yaml", "workloads.yaml"}
    loaded = load_fleet([tmp_path])
    assert loaded.warnings == ()
    fleet = fleetgen.fleet_from_documents(docs)
    got = loaded.fleet
    assert len(got.regions) == len(fleet.regions)
    assert len(got.sites) == len(fleet.sites) == 20
    assert len(got.workloads) == len(fleet.workloads) == 200
    assert set(got.policies) == set(fleet.policies)
    name = next(iter(fleet.sites))
    assert got.sites[name].spec.gpus == fleet.sites[name].spec.gpus
    assert got.sites[name].spec.power == fleet.sites[name].spec.power
    inference = next(w for w in fleet.workloads.values() if w.spec.demand)
    assert got.workloads[inference.name].spec.demand == inference.spec.demand
    assert got.objective == fleet.objective
    assert got == fleet


def test_cli_writes_a_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet"
    assert fleetgen.main(["--sites", "5", "--workloads", "30", "--write", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert len(load_fleet([out]).fleet.workloads) == 30
