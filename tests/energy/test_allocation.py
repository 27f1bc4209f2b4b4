"""Showback: the formula against a hand computation, grouping, traces, metered energy, reconciliation."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fleetyard.energy.allocation import (
    BadGroupBy,
    Usage,
    UsageTable,
    allocate,
    check_by,
    parse_period,
    plan_usage,
)
from fleetyard.energy.timeline import TraceGap
from fleetyard.placement import Planner, PlanOptions
from fleetyard.spec import load_fleet
from tests.energy import costfleet as cf
from tests.energy.costfleet import T0

H = timedelta(hours=1)


def _rows(allocation):
    return {r.key: r for r in allocation.rows}


def test_the_formula_against_a_hand_computation(tmp_path):
    fleet = cf.fleet(tmp_path)
    usage = plan_usage(fleet, cf.plan(), T0, T0 + 10 * H)
    assert len(usage) == 30 and usage.source == "plan"
    a = allocate(fleet, usage, "workload")
    assert a.source == "plan" and a.period.start == T0 and a.period.end == T0 + 10 * H
    train, serve = _rows(a)["train"], _rows(a)["serve"]
    assert train.gpu_rent == pytest.approx(10 * 3.0)
    assert train.energy_cost == pytest.approx(10 * (0.9 + 0.36))
    assert train.carbon_kg == pytest.approx(10 * (1.8 + 0.18))
    assert train.carbon_cost == pytest.approx(10 * (0.18 + 0.018))
    assert train.egress_cost == pytest.approx(10 * 0.25) and train.egress_gb == pytest.approx(10 * 5.0)
    assert train.kwh == pytest.approx(10 * (4.5 + 3.6)) and train.it_kwh == pytest.approx(10 * 6.0)
    assert train.gpu_hours == 40 and train.replica_hours == 20
    assert train.cost == pytest.approx(10 * cf.TRAIN)
    assert serve.cost == pytest.approx(10 * cf.SERVE)
    assert serve.it_kwh == pytest.approx(10 * 2 * 0.072 * 1.8)  # TDP x 1.8 without replica.power_kw
    assert [r.key for r in a.rows] == ["train", "serve"]  # most expensive first
    assert train.share == pytest.approx(cf.TRAIN / (cf.TRAIN + cf.SERVE))


def test_egress_follows_the_site_by_site_share(tmp_path):
    fleet = cf.fleet(tmp_path)
    by_site = _rows(allocate(fleet, plan_usage(fleet, cf.plan(), T0, T0 + H), "site"))
    # each train replica carries half of the 0.25 $/h: the planner's pro rata split
    assert by_site["a"].egress_cost == pytest.approx(0.125) and by_site["b"].egress_cost == pytest.approx(0.125)
    # all train replicas at the data site: no egress
    usage = UsageTable.from_records([Usage("a", "train", "H100-SXM", T0, 2.0, 4.0)])
    assert allocate(fleet, usage, "site").totals.egress_cost == 0.0
    # all away from it: the whole 10 GB/h
    usage = UsageTable.from_records([Usage("b", "train", "L4", T0, 2.0, 4.0)])
    assert allocate(fleet, usage, "site").totals.egress_cost == pytest.approx(0.5)


def test_group_by_keys(tmp_path):
    fleet = cf.fleet(tmp_path)
    usage = plan_usage(fleet, cf.plan(), T0, T0 + 2 * H)
    assert [r.key for r in allocate(fleet, usage, "team").rows] == ["ml", "(no team)"]
    assert [r.key for r in allocate(fleet, usage, "label:tier").rows] == ["gold", "silver"]
    assert [r.key for r in allocate(fleet, usage, "label:owner").rows] == ["(no owner)"]
    by_site = _rows(allocate(fleet, usage, "site"))
    assert by_site["a"].cost == pytest.approx(2 * (2.0 + 0.9 + 0.18 + 0.125))
    assert set(_rows(allocate(fleet, usage, "workload"))) == {"train", "serve"}
    for bad in ("teams", "label:", "region", ""):
        assert check_by(bad) is not None
        with pytest.raises(BadGroupBy, match="expected one of team, label:KEY, site, workload"):
            allocate(fleet, usage, bad)


def test_rows_sum_to_the_totals_exactly(tmp_path):
    fleet = cf.fleet(tmp_path, trace=cf.TRACE)
    a = allocate(fleet, plan_usage(fleet, cf.plan(), T0, T0 + 2 * H), "site")
    for field in ("cost", "gpu_rent", "energy_cost", "carbon_cost", "egress_cost", "kwh", "carbon_kg", "gpu_hours"):
        total = 0.0
        for r in a.rows:
            total += getattr(r, field)
        assert total == getattr(a.totals, field), field
    assert sum(r.share for r in a.rows) == pytest.approx(1.0)


def test_hours_are_priced_at_the_trace(tmp_path):
    fleet = cf.fleet(tmp_path, trace=cf.TRACE)
    a = _rows(allocate(fleet, plan_usage(fleet, cf.plan(), T0, T0 + 2 * H), "site"))["a"]
    # train's replica at a: 3 kW IT; hour 0 PUE 1.1, $0.30, 100 g; hour 1 PUE 1.3, $0.10, 200 g
    assert a.kwh == pytest.approx(3.3 + 3.9)
    assert a.energy_cost == pytest.approx(3.3 * 0.30 + 3.9 * 0.10)
    assert a.carbon_kg == pytest.approx(3.3 * 0.1 + 3.9 * 0.2)
    assert a.carbon_cost == pytest.approx((3.3 * 0.1 + 3.9 * 0.2) / 1000 * 100)


def test_metered_energy_overrides_power_times_hours(tmp_path):
    fleet = cf.fleet(tmp_path)
    usage = UsageTable.from_records([
        Usage("a", "train", "H100-SXM", T0, 1.0, 2.0, energy_kwh=10.0),
        Usage("a", "train", "H100-SXM", T0 + H, 0.5, 1.0),  # half an hour, not metered
    ])
    assert usage.source == "recorded" and usage.hours == 2
    a = allocate(fleet, usage, "site")
    assert a.source == "recorded"
    assert a.totals.it_kwh == pytest.approx(10.0 + 0.5 * 3.0)
    assert a.totals.kwh == pytest.approx(1.5 * (10.0 + 1.5))
    assert a.totals.gpu_rent == pytest.approx(3.0)


def test_records_outside_the_period_are_left_out_and_naive_hours_are_utc(tmp_path):
    fleet = cf.fleet(tmp_path)
    records = [Usage("b", "serve", "L4", (T0 + k * H).replace(tzinfo=None), 2.0, 2.0) for k in range(5)]
    usage = UsageTable.from_records(records, start=T0 + H, end=T0 + 3 * H)
    assert len(usage) == 2 and usage.start == T0 + H
    assert allocate(fleet, usage, "site").totals.cost == pytest.approx(2 * cf.SERVE)


def test_unknown_sites_and_workloads_are_counted_with_a_note(tmp_path):
    fleet = cf.fleet(tmp_path)
    usage = UsageTable.from_records([Usage("gone-1", "train", "H100-SXM", T0, 1.0, 2.0),
                                     Usage("b", "old-job", "L4", T0, 1.0, 1.0)])
    a = allocate(fleet, usage, "site")
    gone = _rows(a)["gone-1"]
    assert gone.gpu_hours == 2.0 and gone.gpu_rent == 0.0 and gone.energy_cost == 0.0
    assert gone.egress_cost == pytest.approx(0.5)  # train's data at a, read from elsewhere
    assert _rows(a)["b"].it_kwh == pytest.approx(0.072 * 1.8)  # GPU-hours x TDP x 1.8
    assert any("gone-1" in n for n in a.notes) and any("old-job" in n for n in a.notes)


def test_a_period_the_trace_does_not_cover_names_site_trace_and_interval(tmp_path):
    fleet = cf.fleet(tmp_path, trace=cf.TRACE)
    usage = plan_usage(fleet, cf.plan(), T0, T0 + 3 * H)
    with pytest.raises(TraceGap) as caught:
        allocate(fleet, usage, "team")
    assert caught.value.site == "a" and caught.value.trace.endswith("a.csv")
    assert "2020-06-01T02:00:00Z to 2020-06-01T03:00:00Z" in str(caught.value)


def test_repeat_daily_extends_a_day_long_trace(tmp_path):
    day = "time,carbon_g_per_kwh\n" + "".join(f"2020-06-01T{h:02d}:00:00Z,{100 + h}\n" for h in range(24))
    fleet = cf.fleet(tmp_path, trace=day)
    usage = UsageTable.from_records([Usage("a", "train", "H100-SXM", T0 + k * H, 1.0, 2.0) for k in (3, 27)])
    with pytest.raises(TraceGap):
        allocate(fleet, usage, "site")
    a = allocate(fleet, usage, "site", extend="repeat-daily")
    assert a.totals.carbon_kg == pytest.approx(2 * 4.5 * 103 / 1000)  # hour 27 repeats hour 3


def test_parse_period():
    assert parse_period("30d") == timedelta(days=30)
    assert parse_period("72h") == timedelta(hours=72)
    assert parse_period("2w") == timedelta(days=14)
    for bad in ("30", "0h", "1y", "-1d", "d30"):
        assert isinstance(parse_period(bad), str)


@pytest.mark.parametrize("hours", [1, 24 * 30])
def test_plan_sourced_totals_reconcile_with_the_plan(hours):
    """The examples without their traces: N hours of the plan cost N x the plan's hourly totals."""
    fleet = load_fleet(["examples/fleet"]).fleet
    fleet = replace(fleet, traces={})
    plan = Planner(fleet).plan(PlanOptions(strategy="greedy", resilience=False))
    a = allocate(fleet, plan_usage(fleet, plan, T0, T0 + hours * H), "team")
    t = plan.totals
    assert a.totals.cost == pytest.approx(t.cost_per_hour * hours, rel=1e-3)
    assert a.totals.carbon_kg == pytest.approx(t.carbon_kg_per_hour * hours, rel=1e-3)
    assert a.totals.kwh == pytest.approx(t.power_kw * hours, rel=1e-3)
    assert a.totals.it_kwh == pytest.approx(t.it_kw * hours, rel=1e-3)
    assert a.totals.gpu_rent == pytest.approx(t.gpu_rent_per_hour * hours, rel=1e-3)
    assert a.totals.egress_cost == pytest.approx(t.egress_per_hour * hours, rel=1e-3)
    assert a.totals.gpu_hours == t.gpus_used * hours


def test_constant_traces_reconcile_like_no_traces(tmp_path):
    flat = "time,carbon_g_per_kwh,price_per_kwh,pue\n" + "".join(
        f"2020-06-01T{h:02d}:00:00Z,400,0.2,1.5\n" for h in range(24))
    fleet = cf.fleet(tmp_path, trace=flat)
    a = allocate(fleet, plan_usage(fleet, cf.plan(), T0, T0 + 24 * H), "team")
    assert a.totals.cost == pytest.approx(24 * (cf.TRAIN + cf.SERVE), rel=1e-9)
