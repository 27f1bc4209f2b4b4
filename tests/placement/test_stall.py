"""The stall stop: HiGHS gives up after `stall` seconds without a better plan, and
what it returns is still a whole, valid plan, no worse than the greedy start."""

from __future__ import annotations

import sys
from pathlib import Path

from fleetyard.placement import OptimizerOptions, Planner, PlanOptions
from fleetyard.placement.check import check_plan
from fleetyard.placement.greedy import greedy
from fleetyard.placement.model import penalty_unit
from fleetyard.placement.objective import objective

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fleetgen


def test_a_stalled_search_returns_a_valid_plan_no_worse_than_greedy():
    # a capacity-tight fleet that HiGHS needs seconds to prove optimal
    f = fleetgen.generate(20, 200, seed=0, tightness=1.1)
    planner = Planner(f)
    opts = PlanOptions(optimizer=OptimizerOptions(time_limit=30, stall=0.05), resilience=False)
    placement = planner.place(opts)
    assert placement.status == "stalled"
    plan = planner.to_plan(placement, opts)
    assert plan.solver.status == "stalled"
    assert check_plan(f, plan) == []
    unit = penalty_unit(planner.candidates)
    start = greedy(planner.ctx, planner.runner, planner.candidates)
    assert sum(objective(planner.candidates, placement, unit)) <= sum(objective(planner.candidates, start, unit))


def test_without_a_stall_stop_the_same_fleet_is_solved_to_optimality():
    f = fleetgen.generate(20, 200, seed=0, tightness=1.1)
    plan = Planner(f).plan(PlanOptions(optimizer=OptimizerOptions(time_limit=60, stall=None), resilience=False))
    assert plan.solver.status == "optimal"
    assert check_plan(f, plan) == []


def test_the_greedy_baseline_does_not_claim_optimality():
    f = fleetgen.generate(20, 200, seed=0)
    plan = Planner(f).plan(PlanOptions(strategy="greedy", resilience=False))
    assert plan.solver.status == "heuristic"
    assert check_plan(f, plan) == []
