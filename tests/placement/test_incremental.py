"""Incremental re-plans (placement/incremental.py) and the work-bounded resilience report.

A local re-plan must keep every rule a full plan keeps, hold everything outside the
change's neighbourhood exactly where it runs, never serve less than the running
plan it started from, and give the same plan for the same input."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fleetyard.placement import Planner, PlanOptions, incremental
from fleetyard.placement import neighbourhood as nb
from fleetyard.placement.check import check_plan
from fleetyard.placement.movecost import running_from_assignments
from fleetyard.placement.objective import weighted_demand
from fleetyard.placement.resilience import LP_PROOF, resilience_report
from fleetyard.spec import load_fleet
from tests.property.test_plan_properties import SETTINGS, fleets

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fleetgen

ROOT = Path(__file__).resolve().parents[2]
QUICK = PlanOptions(resilience=False, explain=False)


def _table(plan):
    return sorted((a.workload, a.site, a.gpu_sku, a.replicas) for a in plan.assignments)


def _local(plan) -> bool:
    return any(n.startswith("incremental re-plan") for n in plan.solver.notes)


def _served(plan) -> float:
    return next(s.value for s in plan.bound.stages if s.stage == "service")


def _same(a, b) -> bool:
    """Equal plans, apart from how long they took."""
    da, db = a.model_dump(), b.model_dump()
    for d in (da, db):
        d["solver"].pop("seconds")
        d["solver"].pop("stage_seconds")
    return da == db


def _with_priority(fleet, name, priority):
    w = fleet.workloads[name]
    spec = w.spec.model_copy(update={"priority": priority})
    return dataclasses.replace(fleet, workloads={**fleet.workloads, name: w.model_copy(update={"spec": spec})})


@SETTINGS
@given(fleets(), st.data())
def test_a_local_re_plan_keeps_every_rule_of_a_full_plan(f, data):
    first = Planner(f).plan(QUICK)
    name = data.draw(st.sampled_from(sorted(f.workloads)))
    changed = _with_priority(f, name, data.draw(st.sampled_from([0, 10, 100, 1000])))
    opts = dataclasses.replace(QUICK, current=running_from_assignments(first.assignments), changed=frozenset({name}))
    again = Planner(changed).plan(opts)
    assert _local(again)
    assert check_plan(changed, again) == []
    stages = {s.stage: s for s in again.bound.stages}
    assert stages["service"].value <= stages["service"].bound + 1e-6
    assert stages["cost"].bound <= stages["cost"].value + 1e-6
    assert _same(Planner(changed).plan(opts), again)  # deterministic


def test_on_a_big_fleet_only_the_neighbourhood_moves_and_service_does_not_drop():
    fleet = fleetgen.generate(20, 200, seed=3, tightness=0.75)
    first = Planner(fleet).plan(QUICK)
    name = sorted(fleet.workloads)[100]
    changed = _with_priority(fleet, name, min(1000, fleet.workloads[name].spec.priority + 1))
    opts = dataclasses.replace(QUICK, current=running_from_assignments(first.assignments), changed=frozenset({name}))
    again = Planner(changed).plan(opts)
    assert _local(again) and check_plan(changed, again) == []
    before = {(w, s, k): n for w, s, k, n in _table(first)}
    after = {(w, s, k): n for w, s, k, n in _table(again)}
    touched = {k[0] for k in set(before) | set(after) if before.get(k, 0) != after.get(k, 0)}
    note = next(n for n in again.solver.notes if n.startswith("incremental re-plan"))
    re_solved = int(note.split()[2]) + int(note.split("and ")[1].split()[0])
    assert len(touched) <= re_solved <= incremental.MIN_LOCAL + nb.MAX_MOVABLE
    # the re-plan starts from the running plan: with one priority raised, the weighted
    # service can only rise by that workload's own weight, and nothing is dropped for nothing
    assert _served(again) >= _served(first) - 1e-6 * weighted_demand(Planner(changed).candidates)


def test_a_site_going_down_re_places_only_what_ran_there():
    fleet = load_fleet([ROOT / "examples" / "fleet"]).fleet
    first = Planner(fleet).plan(QUICK)
    down = next(a.site for a in first.assignments)
    site = fleet.sites[down]
    pools = [p.model_copy(update={"count": 0}) for p in site.spec.gpus]
    gone = site.model_copy(update={"spec": site.spec.model_copy(update={"gpus": pools})})
    changed = dataclasses.replace(fleet, sites={**fleet.sites, down: gone})
    opts = dataclasses.replace(QUICK, current=running_from_assignments(first.assignments),
                               changed_sites=frozenset({down}))
    again = Planner(changed).plan(opts)
    assert _local(again) and check_plan(changed, again) == []
    assert all(a.site != down for a in again.assignments)
    hit = {a.workload for a in first.assignments if a.site == down}
    kept = [r for r in _table(first) if r[0] not in hit]
    moved = [r for r in kept if r not in _table(again)]
    assert len(moved) <= nb.MAX_MOVABLE  # only the neighbourhood may move
    assert {r[0] for r in moved} <= {r[0] for r in _table(first)}


def test_a_full_re_plan_is_still_available():
    fleet = load_fleet([ROOT / "examples" / "fleet"]).fleet
    first = Planner(fleet).plan(QUICK)
    opts = dataclasses.replace(QUICK, current=running_from_assignments(first.assignments), replan="full")
    again = Planner(fleet).plan(opts)
    assert not _local(again) and _table(again) == _table(first)


def test_the_resilience_report_counts_work_not_seconds():
    fleet = fleetgen.generate(12, 80, seed=5, tightness=0.9)
    planner = Planner(fleet)
    placement = planner.place(QUICK)
    one = resilience_report(planner, placement, workers=1)
    two = resilience_report(planner, placement, workers=2)
    assert [e.model_dump() for e in one] == [e.model_dump() for e in two]
    assert not any("safety net" in e.method for e in one)
    assert any(e.method.startswith("exact failover") or e.method == LP_PROOF for e in one)  # the exact path ran


def test_a_failover_neighbourhood_does_not_grow_with_the_fleet():
    fleet = fleetgen.generate(40, 600, seed=1, tightness=0.9)
    planner = Planner(fleet)
    placement = planner.place(PlanOptions(strategy="greedy"))
    c = planner.compiled
    busiest = max(range(c.n_sites), key=lambda s: sum(
        n for pools in placement.replicas.values() for p, n in pools.items() if int(c.pool_site[p]) == s))
    from fleetyard.placement.resilience import affected_workloads

    displaced = affected_workloads(planner, placement, {busiest})
    movable = nb.movable_workloads(planner, placement, displaced, {busiest})
    assert len(movable) <= nb.MAX_MOVABLE
    assert not set(movable) & set(displaced)


def test_the_lp_proof_of_a_loss_never_changes_a_verdict(monkeypatch):
    """A site whose loss the LP relaxation proves unabsorbable skips the exact MIP; every
    verdict must be the one the exact failover reaches, and the proof must be used."""
    from fleetyard.placement import resilience

    fleet = fleetgen.generate(12, 80, seed=5, tightness=1.1)
    planner = Planner(fleet)
    placement = planner.place(QUICK)
    fast = resilience_report(planner, placement, workers=1)
    monkeypatch.setattr(resilience, "_cannot_absorb", lambda built, before: False)
    exact = resilience_report(planner, placement, workers=1)
    assert [(e.failed_site, e.absorbable) for e in fast] == [(e.failed_site, e.absorbable) for e in exact]
    proven = [e for e in fast if e.method == resilience.LP_PROOF]
    assert proven and all(not e.absorbable and e.unplaced for e in proven)
