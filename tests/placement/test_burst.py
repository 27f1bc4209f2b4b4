"""Burst and fallback as policy (issue 8): the burst filter, the preference premium, spend caps.

The fleets are priced by hand: a replica draws 1 kW at PUE 1.2 and $0.10/kWh, so it
costs $0.12/h of energy plus its rent; at a $2.00/GPU-h hyperscaler that is $2.12/h.
"""

from __future__ import annotations

import pytest

from fleetyard.placement import Planner, PlanOptions, largescale
from fleetyard.placement.check import check_plan
from fleetyard.placement.filters import Burst
from fleetyard.placement.filters.burst import BURST_NEVER
from fleetyard.placement.planner import explain_workload
from fleetyard.spec.plan import Plan
from tests.placement.builders import fleet, objective, region, site, workload

STRATEGIES = ["optimizer", "greedy"]
AWS = 2.12  # $/h of one replica at the hyperscaler below


def _plan(f, strategy="optimizer") -> Plan:
    plan = Planner(f).plan(PlanOptions(strategy=strategy, resilience=False))
    assert check_plan(f, plan) == []
    return plan


def _where(plan: Plan) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for a in plan.assignments:
        out[(a.workload, a.site)] = out.get((a.workload, a.site), 0) + a.replicas
    return out


def _own_and_aws(own_gpus: int = 2, aws_gpus: int = 8):
    return (region("eu"), site("own", gpus={"H100-SXM": own_gpus}),
            site("aws", type="hyperscaler", gpus={"H100-SXM": (aws_gpus, 2.0)}))


def _job(name: str, n: int, **kw):
    return workload(name, type="batch", power_kw=1.0, replicas=(n, n), **kw)


# --- the filter ---------------------------------------------------------------------------------


def test_burst_never_keeps_a_workload_off_burst_sites_with_a_named_reason():
    f = fleet(*_own_and_aws(own_gpus=1), _job("private", 3, burst="never", priority=10), _job("open", 1))
    planner = Planner(f)
    ctx, c = planner.ctx, planner.compiled
    flt = Burst()
    private, open_ = f.workloads["private"], f.workloads["open"]
    aws_pool = int(c.pools_of("aws")[0])
    own_pool = int(c.pools_of("own")[0])
    (reason,) = flt.check(ctx, private, aws_pool)
    assert reason.code == BURST_NEVER
    assert reason.message == ("burst: workload may not run on burst sites (spec.burst: never); "
                              "aws is a hyperscaler")
    assert flt.check(ctx, private, own_pool) == [] and flt.check(ctx, open_, aws_pool) == []
    assert flt.mask(ctx, private).tolist() == [not flt.check(ctx, private, p) for p in range(c.n_pools)]
    assert flt.mask(ctx, open_).all()
    for strategy in STRATEGIES:
        plan = _plan(f, strategy)
        assert ("private", "aws") not in _where(plan)
        (short,) = [u for u in plan.unplaced if u.workload == "private"]
        assert short.replicas == 2
    ex = explain_workload(planner, planner.place(PlanOptions(strategy="greedy")), "private")
    (aws,) = [s for s in ex.sites if s.site == "aws"]
    assert aws.verdict == "rejected" and reason.message in aws.reasons
    assert "burst: may not run on burst sites (spec.burst: never)" in ex.summary


def test_burst_site_types_say_what_counts_as_burst():
    f = fleet(region("eu"), site("colo-1", type="colo", gpus={"H100-SXM": 4}),
              objective(burst={"burst_site_types": ["colo", "hyperscaler"]}), _job("private", 1, burst="never"))
    plan = _plan(f)
    assert plan.assignments == [] and "spec.burst: never" in plan.unplaced[0].reasons[0]


# --- spend caps -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_fleet_wide_cap_limits_burst_spend_and_reports_what_it_left_out(strategy):
    uncapped = _plan(fleet(*_own_and_aws(), _job("job", 6)), strategy)
    assert _where(uncapped) == {("job", "own"): 2, ("job", "aws"): 4} and uncapped.unplaced == []
    assert uncapped.burst is None  # no burst section: no report
    f = fleet(*_own_and_aws(), _job("job", 6), objective(burst={"max_spend_per_hour": 5}))
    plan = _plan(f, strategy)
    assert _where(plan) == {("job", "own"): 2, ("job", "aws"): 2}  # a third replica would cost 6.36 > 5
    (short,) = plan.unplaced
    assert short.workload == "job" and short.replicas == 2
    assert short.reasons[0] == "burst cap: fleet-wide burst spend capped at $5.00/h"
    assert plan.burst is not None
    assert plan.burst.spend_per_hour == pytest.approx(2 * AWS)
    assert plan.burst.cap_per_hour == 5 and plan.burst.capped == ["job"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_team_cap_limits_only_that_team(strategy):
    f = fleet(*_own_and_aws(own_gpus=1), objective(burst={"per_team": {"research": 2.5}}),
              _job("research-job", 3, labels={"team": "research"}), _job("support-job", 3, labels={"team": "support"}))
    plan = _plan(f, strategy)
    where = _where(plan)
    assert where.get(("research-job", "aws"), 0) == 1
    assert sum(n for (w, _), n in where.items() if w == "support-job") == 3
    short = {u.workload: u for u in plan.unplaced}
    assert set(short) == {"research-job"}
    assert "burst cap: team research burst spend capped at $2.50/h" in short["research-job"].reasons
    assert plan.burst is not None and plan.burst.capped == ["research-job"]
    research, support = plan.burst.by_team["research"], plan.burst.by_team["support"]
    assert research.cap_per_hour == 2.5 and research.spend_per_hour == pytest.approx(AWS)
    assert support.cap_per_hour is None and support.spend_per_hour > 2 * AWS


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_gang_counts_all_its_replicas_against_the_cap(strategy):
    gang = workload("train", type="training", power_kw=1.0, replicas=(4, 4))
    f = fleet(*_own_and_aws(own_gpus=1), gang, objective(burst={"max_spend_per_hour": 8}))
    plan = _plan(f, strategy)  # 4 x 2.12 = 8.48 > 8: the gang cannot burst
    assert plan.assignments == []
    assert plan.unplaced[0].reasons[0] == "burst cap: fleet-wide burst spend capped at $8.00/h"
    roomy = fleet(*_own_and_aws(own_gpus=1), gang, objective(burst={"max_spend_per_hour": 9}))
    assert _where(_plan(roomy, strategy)) == {("train", "aws"): 4}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_cap_leaves_inference_demand_unserved_with_the_cap_as_reason(strategy):
    chat = workload("chat", power_kw=1.0, demand={"eu": 100}, rps=20, labels={"team": "support"})
    f = fleet(*_own_and_aws(own_gpus=2), chat, objective(burst={"per_team": {"support": 4.5}}))
    plan = _plan(f, strategy)  # 5 replicas needed: 2 owned + 2 at aws (4.24 <= 4.5)
    assert _where(plan) == {("chat", "own"): 2, ("chat", "aws"): 2}
    (short,) = plan.unplaced
    assert short.unserved == {"eu": pytest.approx(20.0)}
    assert short.reasons[0] == "burst cap: team support burst spend capped at $4.50/h"


def test_the_big_fleet_path_keeps_the_caps(monkeypatch):
    monkeypatch.setattr(largescale, "LARGE_ABOVE", -1)
    f = fleet(*_own_and_aws(), _job("a", 4, priority=5), _job("b", 4), objective(burst={"max_spend_per_hour": 7}))
    plan = _plan(f)
    assert any("Lagrangian" in n for n in plan.solver.notes)
    assert plan.burst is not None and plan.burst.spend_per_hour <= 7 + 1e-6
    assert sum(n for (_, s), n in _where(plan).items() if s == "aws") == 3


def test_check_plan_catches_a_broken_cap_and_burst_never():
    f = fleet(*_own_and_aws(), _job("job", 6, burst="never"), objective(burst={"max_spend_per_hour": 5}))
    plan = _plan(fleet(*_own_and_aws(), _job("job", 6)))  # planned without the rules
    bad = check_plan(f, plan)
    assert any("runs on burst site aws (hyperscaler) but has spec.burst: never" in b for b in bad)
    assert any("fleet-wide burst spend $8.4800/h exceeds its cap $5.00/h" in b for b in bad)


# --- ordered preference -------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("prefer", "chosen"), [(["colo", "hyperscaler"], "colo-1"),
                                                (["hyperscaler", "colo"], "aws")])
def test_at_equal_cost_the_preferred_site_type_wins(strategy, prefer, chosen):
    sites = (region("eu"), site("aws", type="hyperscaler", gpus={"H100-SXM": (8, 1.0)}),
             site("colo-1", type="colo", gpus={"H100-SXM": (8, 1.0)}))
    plan = _plan(fleet(*sites, _job("job", 3), objective(burst={"prefer": prefer})), strategy)
    assert _where(plan) == {("job", chosen): 3}
    assert plan.totals.cost_per_hour == pytest.approx(3 * 1.12)  # the premium is not cost
    assert plan.totals.preference_premium_per_hour == 0.0  # the chosen type ranks first


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_premium_puts_colo_before_a_slightly_cheaper_cloud_but_not_a_much_cheaper_one(strategy):
    def plan_with(cloud_rent: float) -> Plan:
        f = fleet(region("eu"), site("colo-1", type="colo", gpus={"H100-SXM": (8, 1.0)}),
                  site("aws", type="hyperscaler", gpus={"H100-SXM": (8, cloud_rent)}), _job("job", 2),
                  objective(burst={"prefer": ["small-dc", "colo", "hyperscaler"]}))
        return _plan(f, strategy)

    near = plan_with(0.80)  # colo rank 1 (+$0.50), cloud rank 2 (+$1.00): colo 1.62 < cloud 1.92
    assert _where(near) == {("job", "colo-1"): 2}
    assert "preferred site type over 1 cheaper pool(s) (burst.prefer)" in near.workloads[0].why
    assert near.totals.cost_per_hour == pytest.approx(2 * 1.12)  # real cost, premium excluded
    assert near.totals.preference_premium_per_hour == pytest.approx(2 * 0.50)
    far = plan_with(0.30)  # cloud 0.42 + 1.00 = 1.42 < colo 1.62: cheaper by more than the premium step
    assert _where(far) == {("job", "aws"): 2}
    assert far.totals.cost_per_hour == pytest.approx(2 * 0.42)
    assert far.totals.preference_premium_per_hour == pytest.approx(2 * 1.00)
    if strategy == "optimizer":
        for plan in (near, far):
            assert plan.bound.cost_per_hour_lower_bound <= plan.totals.cost_per_hour + 1e-6
            assert plan.bound.cost_per_hour_lower_bound == pytest.approx(plan.totals.cost_per_hour, rel=0.01)
            assert "preference premium" in plan.bound.method


def test_without_a_preference_the_premium_is_zero_and_cost_decides():
    f = fleet(region("eu"), site("colo-1", type="colo", gpus={"H100-SXM": (8, 1.0)}),
              site("aws", type="hyperscaler", gpus={"H100-SXM": (8, 0.8)}), _job("job", 2),
              objective(burst={"max_spend_per_hour": 100}))
    plan = _plan(f)
    assert _where(plan) == {("job", "aws"): 2} and plan.totals.preference_premium_per_hour == 0.0
    assert "preference premium" not in plan.bound.method
    assert plan.burst is not None and plan.burst.capped == [] and plan.burst.prefer == []
