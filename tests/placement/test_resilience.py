"""Failover, the per-site absorbability report, what-if moves, and N-1 planning."""

from __future__ import annotations

from fleetyard.placement import Planner, PlanOptions, failover
from fleetyard.placement.check import check_plan
from fleetyard.placement.resilience import moves
from tests.placement.builders import fleet, objective, region, site, workload


def _two_sites(b_gpus: int = 8):
    return fleet(region("eu"), site("a", gpus={"H100-SXM": (8, 1.0)}), site("b", gpus={"H100-SXM": (b_gpus, 2.0)}),
                 workload("job", type="batch", replicas=(4, 4)))


def test_failover_moves_displaced_work_and_prices_it():
    f = _two_sites()
    planner = Planner(f)
    before = planner.place()
    for exact in (True, False):
        result = failover(planner, before, ["a"], exact=exact)
        assert result.absorbable and result.unplaced == []
        assert result.moved_replicas == 4
        assert result.after.replicas["job"] == {1: 4}
        assert result.cost_delta_per_hour > 0  # b rents at $2 instead of $1
        assert [(m.site, m.before, m.after) for m in moves(planner, before, planner, result.after, ["job"])] == [
            ("a", 4, 0), ("b", 0, 4)]


def test_failover_that_cannot_absorb_names_the_workload_and_why():
    f = _two_sites(b_gpus=2)
    planner = Planner(f)
    result = failover(planner, planner.place(), ["a"])
    assert not result.absorbable
    (short,) = result.unplaced
    assert short.workload == "job" and short.replicas == 2
    assert any("capacity" in r for r in short.reasons)


def test_inference_demand_is_rerouted_within_slo():
    f = fleet(region("eu", 50.11, 8.68), site("fra", gpus={"L4": (8, 0.5)}),
              site("par", country="FR", lat=48.86, lon=2.35, gpus={"L4": (8, 0.9)}),
              site("nyc", country="US", lat=40.7, lon=-74.0, gpus={"L4": (8, 0.1)}),
              workload("api", replicas=(1, 8), demand={"eu": 40}, rps=10, slo=30))
    planner = Planner(f)
    before = planner.place()
    assert before.replicas["api"] == {0: 4}
    result = failover(planner, before, ["fra"])
    assert result.absorbable
    assert {planner.compiled.site_names[s] for (_g, s) in result.after.routes["api"]} == {"par"}


def test_plan_reports_every_site_and_a_site_without_work_is_absorbable():
    f = fleet(region("eu"), site("a", gpus={"H100-SXM": (8, 1.0)}), site("b", gpus={"H100-SXM": (2, 2.0)}),
              site("idle", gpus={"L4": 1}), workload("job", type="batch", gpus=1, skus=["H100-SXM"], replicas=(4, 4)))
    plan = Planner(f).plan()
    report = {r.failed_site: r for r in plan.resilience}
    assert set(report) == {"a", "b", "idle"}
    assert report["idle"].absorbable and report["b"].absorbable is True
    assert not report["a"].absorbable
    assert report["a"].unplaced[0].workload == "job"


def test_n1_keeps_hot_standby_for_inference_when_asked():
    resources = [region("eu", 50.11, 8.68), site("fra", gpus={"L4": (8, 0.5)}),
                 site("par", country="FR", lat=48.86, lon=2.35, gpus={"L4": (8, 0.9)}),
                 workload("api", replicas=(1, 16), demand={"eu": 40}, rps=10, slo=30)]
    plain = Planner(fleet(*resources)).plan()
    assert all(r.absorbable for r in plain.resilience)  # cold failover: par has room
    assert {a.site for a in plain.assignments} == {"fra"}
    f = fleet(*resources, objective(resilience="n-1", standby="hot"))
    plan = Planner(f).plan()
    assert check_plan(f, plan) == []
    assert all(r.absorbable for r in plan.resilience)
    by_site = {a.site: a.replicas for a in plan.assignments}
    assert by_site == {"fra": 4, "par": 4}  # each site alone carries the 40 rps
    assert plan.totals.cost_per_hour > plain.totals.cost_per_hour


def test_n1_cold_standby_keeps_room_for_inference_to_restart():
    # Losing a leaves 4 L4s for 6 replicas of work: failover keeps the API (priority
    # 100) by stopping the filler. N-1 planning gives the filler up front instead.
    resources = [region("eu", 50.11, 8.68), site("a", gpus={"L4": (4, 0.1)}),
                 site("b", country="FR", lat=48.86, lon=2.35, gpus={"L4": (4, 0.2)}),
                 workload("api", replicas=(1, 8), demand={"eu": 20}, rps=10, slo=30, priority=100),
                 workload("fill", type="batch", replicas=(4, 4))]
    plain = Planner(fleet(*resources)).plan()
    assert plain.unplaced == []
    report = {r.failed_site: r for r in plain.resilience}
    assert not report["a"].absorbable
    assert [u.workload for u in report["a"].unplaced] == ["fill"]  # the API survives, the filler stops
    f = fleet(*resources, objective(resilience="n-1"))
    plan = Planner(f).plan()
    assert check_plan(f, plan) == []
    assert all(r.absorbable for r in plan.resilience)
    assert [u.workload for u in plan.unplaced] == ["fill"]


def test_n1_reserves_room_for_jobs_to_restart():
    resources = [region("eu"), site("a", gpus={"H100-SXM": (8, 1.0)}), site("b", gpus={"H100-SXM": (8, 2.0)}),
                 workload("train", type="training", gpus=8, replicas=(1, 1), priority=100),
                 workload("fill", type="batch", replicas=(8, 8), priority=10)]
    plain = Planner(fleet(*resources)).plan()
    assert plain.unplaced == []
    assert not all(r.absorbable for r in plain.resilience)
    f = fleet(*resources, objective(resilience="n-1"))
    plan = Planner(f).plan()
    assert all(r.absorbable for r in plan.resilience)
    assert [u.workload for u in plan.unplaced] == ["fill"]


def test_n1_says_which_workload_makes_it_impossible():
    f = fleet(region("eu"), site("a", gpus={"H100-SXM": 8}), site("b", gpus={"L4": 8}),
              workload("big", memory=80, replicas=(1, 1)), objective(resilience="n-1"))
    plan = Planner(f).plan(PlanOptions())
    assert any("n-1 impossible for big: its only feasible site is a" in n for n in plan.solver.notes)
    assert not {r.failed_site: r for r in plan.resilience}["a"].absorbable


def _contest(low_priority: int):
    return fleet(region("eu"), site("a", gpus={"L4": (4, 0.1)}), site("b", gpus={"L4": (4, 0.5)}),
                 workload("hi", type="batch", replicas=(4, 4), priority=100, skus=["L4"]),
                 workload("lo", type="batch", replicas=(4, 4), priority=low_priority, skus=["L4"]))


def test_failover_preempts_lower_priority_work_for_displaced_work():
    f = _contest(low_priority=10)
    planner = Planner(f)
    before = planner.place()
    assert before.replicas == {"hi": {0: 4}, "lo": {1: 4}}
    result = failover(planner, before, ["a"])
    assert result.after.replicas.get("hi") == {1: 4}
    assert [u.workload for u in result.unplaced] == ["lo"]
    assert any("higher-priority work: hi (priority 100)" in r for r in result.unplaced[0].reasons)
    changes = {(m.workload, m.site, m.before, m.after) for m in moves(planner, before, planner, result.after,
                                                                          result.affected)}
    assert changes == {("hi", "a", 4, 0), ("hi", "b", 0, 4), ("lo", "b", 4, 0)}


def test_failover_never_preempts_equal_priority_work():
    f = _contest(low_priority=100)
    planner = Planner(f)
    before = planner.place()
    result = failover(planner, before, ["a"])
    assert result.after.replicas.get("lo") == before.replicas["lo"]
    assert [u.workload for u in result.unplaced] == ["hi"]
    assert any(r.startswith("down: a") for r in result.unplaced[0].reasons)
