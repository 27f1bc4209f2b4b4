"""No plan exceeds a burst cap or puts `burst: never` work on a burst site (Hypothesis).

The random fleets of `test_plan_properties` get random teams, `burst: never` flags,
a preference order and caps; `check_plan` re-derives burst spend from the files.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetyard.placement import OptimizerOptions, Planner, PlanOptions
from fleetyard.placement.check import check_plan
from fleetyard.spec import Workload
from tests.placement.builders import fleet, objective
from tests.property.test_plan_properties import fleets

TYPES = ["small-dc", "colo", "edge", "hyperscaler"]
OPTIONS = OptimizerOptions(time_limit=20.0)


@st.composite
def burst_fleets(draw):
    base = draw(fleets())
    workloads = []
    for w in base.workloads.values():
        body = w.model_dump()
        team = draw(st.sampled_from([None, "research", "support"]))
        if team is not None:
            body["metadata"]["labels"]["team"] = team
        body["spec"]["burst"] = draw(st.sampled_from(["allowed", "allowed", "never"]))
        workloads.append(Workload.model_validate(body))
    burst = {
        "prefer": draw(st.lists(st.sampled_from(TYPES), max_size=4, unique=True)),
        "burst_site_types": draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True)),
        "max_spend_per_hour": draw(st.sampled_from([None, 0.0, 1.5, 5.0, 20.0])),
        "per_team": draw(st.dictionaries(st.sampled_from(["research", "support"]),
                                         st.sampled_from([0.0, 1.0, 3.0, 10.0]), max_size=2)),
    }
    rest = [*base.regions.values(), *base.sites.values(), *base.policies.values()]
    return fleet(*rest, *workloads, objective(carbon_price=base.objective.spec.carbon_price_per_tonne, burst=burst))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(burst_fleets())
def test_no_plan_exceeds_any_burst_cap(f):
    planner = Planner(f)
    for strategy in ("optimizer", "greedy"):
        plan = planner.plan(PlanOptions(strategy=strategy, optimizer=OPTIONS, resilience=False))
        assert check_plan(f, plan) == [], strategy
        assert plan.burst is not None
        assert set(plan.burst.capped) <= {u.workload for u in plan.unplaced}
        assert plan.totals.preference_premium_per_hour >= 0.0
