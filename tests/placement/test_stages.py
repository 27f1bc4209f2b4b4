"""The staged objective (service, then cost), its bounds, the neighbourhood search and
stable re-plans. Small fleets are solved exactly, so each stage's proven bound can be
checked against the optimum."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from hypothesis import given

from fleetyard.placement import OptimizerOptions, Planner, PlanOptions
from fleetyard.placement import stages as stages_mod
from fleetyard.placement.check import check_plan
from fleetyard.placement.greedy import greedy
from fleetyard.placement.milp import WorkLimits
from fleetyard.placement.movecost import running_from_assignments
from fleetyard.placement.objective import service_short
from fleetyard.spec import load_fleet
from tests.property.test_plan_properties import SETTINGS, fleets

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fleetgen

ROOT = Path(__file__).resolve().parents[2]
EXACT = OptimizerOptions(time_limit=60, mip_gap=1e-9, limits=WorkLimits(max_nodes=None))


def _stages(plan):
    return {s.stage: s for s in plan.bound.stages}


def _table(plan):
    return sorted((a.workload, a.site, a.gpu_sku, a.replicas) for a in plan.assignments)


@SETTINGS
@given(fleets())
def test_each_stage_bound_holds_against_the_exact_optimum(f):
    planner = Planner(f)
    plan = planner.plan(PlanOptions(resilience=False))
    exact = planner.plan(PlanOptions(optimizer=EXACT, resilience=False))
    st, ex = _stages(plan), _stages(exact)
    if not st:  # nothing the optimizer had to decide (no candidate at all): no stages to report
        assert not plan.assignments and not exact.assignments
        return
    assert st["service"].value <= st["service"].bound + 1e-6
    assert ex["service"].value <= st["service"].bound + 1e-3  # nobody serves more than the proven bound
    assert st["cost"].bound <= st["cost"].value + 1e-6
    if abs(ex["service"].value - st["service"].value) <= 1e-6:  # same service: the cost bound holds for the optimum
        assert st["cost"].bound <= ex["cost"].value + 1e-3


def test_the_example_fleet_is_proven_in_both_stages():
    fleet = load_fleet([ROOT / "examples" / "fleet"]).fleet
    plan = Planner(fleet).plan(PlanOptions(resilience=False))
    st = _stages(plan)
    assert list(st) == ["service", "cost"]
    assert st["service"].gap <= 0.002 and st["cost"].gap <= 0.002
    assert st["service"].demand >= st["service"].bound >= st["service"].value > 0


def test_the_neighbourhood_search_keeps_every_rule_and_serves_at_least_as_much_as_greedy(monkeypatch):
    monkeypatch.setattr(stages_mod.StageOptions, "exact_max_columns", 0)  # force the search on a small fleet
    f = fleetgen.generate(20, 200, seed=1, tightness=1.1)
    planner = Planner(f)
    placement = planner.place(PlanOptions(resilience=False))
    plan = planner.to_plan(placement, PlanOptions(resilience=False))
    assert check_plan(f, plan) == []
    assert {s.status for s in plan.bound.stages} <= {"lns", "optimal"}
    start = greedy(planner.ctx, planner.runner, planner.candidates)
    assert service_short(planner.candidates, placement) <= service_short(planner.candidates, start) + 1e-6
    again = Planner(fleetgen.generate(20, 200, seed=1, tightness=1.1)).plan(PlanOptions(resilience=False))
    assert _table(again) == _table(plan)  # deterministic: the search counts work, not seconds


def test_a_re_plan_of_an_unchanged_fleet_moves_nothing():
    f = load_fleet([ROOT / "examples" / "fleet"]).fleet
    first = Planner(f).plan(PlanOptions(resilience=False))
    again = Planner(f).plan(PlanOptions(resilience=False, current=running_from_assignments(first.assignments)))
    assert _table(again) == _table(first)
    assert check_plan(f, again) == []


def test_a_re_plan_after_a_small_change_keeps_the_other_workloads_where_they_run():
    fleet = load_fleet([ROOT / "examples" / "demo" / "fleet.yaml"]).fleet
    first = Planner(fleet).plan(PlanOptions(resilience=False))
    chat = fleet.workloads["demo-chat"]
    spec = chat.spec.model_copy(update={"replicas": chat.spec.replicas.model_copy(update={"max": 6})})
    changed = dataclasses.replace(fleet, workloads={**fleet.workloads,
                                                    "demo-chat": chat.model_copy(update={"spec": spec})})
    again = Planner(changed).plan(PlanOptions(resilience=False, current=running_from_assignments(first.assignments)))
    assert [r for r in _table(again) if r[0] != "demo-chat"] == [r for r in _table(first) if r[0] != "demo-chat"]
    assert any("move cost" in n for n in again.solver.notes)
