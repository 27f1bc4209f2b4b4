"""`plan --at T` (the fleet at a moment of its traces) and the hourly range over a day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetyard.energy.dayrange import common_coverage, default_day, over_day
from fleetyard.energy.timeline import TraceGap
from fleetyard.spec import load_fleet
from fleetyard.spec.plan import Plan
from tests.energy import costfleet as cf
from tests.energy.costfleet import T0
from tests.energy.test_allocation_cli import EXAMPLES, fleetyard

# one day at b: 100 + 10 g/kWh per hour of the day
DAY = "time,carbon_g_per_kwh\n" + "".join(f"2020-06-01T{h:02d}:00:00Z,{100 + 10 * h}\n" for h in range(24))


def test_over_day_prices_the_fixed_plan_at_each_hour(tmp_path):
    fleet = cf.fleet(tmp_path, trace=DAY, site="b")
    d = over_day(fleet, cf.plan(), T0 + timedelta(hours=7))
    assert d.start == T0 and d.end == T0 + timedelta(days=1)
    fixed = 1.8 + 0.0  # train at a: 4.5 kWh x 400 g
    at_b = 3.6 + 0.31104  # facility kWh at b each hour
    assert d.carbon_kg_per_hour.min == pytest.approx(fixed + at_b * 0.100)
    assert d.carbon_kg_per_hour.max == pytest.approx(fixed + at_b * 0.330)
    assert d.carbon_kg_per_hour.mean == pytest.approx(fixed + at_b * 0.215)
    base = cf.TRAIN + cf.SERVE - (0.018 + 0.0015552)  # without b's carbon cost at 50 g
    assert d.cost_per_hour.min == pytest.approx(base + at_b * 0.100 / 1000 * 100)
    assert d.cost_per_hour.max == pytest.approx(base + at_b * 0.330 / 1000 * 100)
    assert d.power_kw.min == d.power_kw.max == pytest.approx(4.5 + at_b)


def test_a_day_the_trace_does_not_cover_is_a_gap(tmp_path):
    fleet = cf.fleet(tmp_path, trace=DAY, site="b")
    with pytest.raises(TraceGap):
        over_day(fleet, cf.plan(), T0 + timedelta(days=1))


def test_default_day_is_the_last_whole_day_every_trace_covers():
    fleet = load_fleet([EXAMPLES]).fleet
    cover = common_coverage(fleet)
    assert cover is not None
    # de and gb end 2021-01-10T00:00Z, fr one hour earlier: 2021-01-09 is not whole in fr
    assert cover[1].isoformat() == "2021-01-09T23:00:00+00:00"
    assert default_day(fleet).isoformat() == "2021-01-08T00:00:00+00:00"


def test_plan_at_uses_the_trace_value_at_t_and_reports_the_day(tmp_path):
    folder = cf.write(tmp_path, trace=DAY, site="b")
    run = fleetyard("plan", folder, "--at", "2020-06-01T05:00:00Z", "--no-resilience", "--format", "json")
    assert run.code == 0, run.stderr
    plan = Plan.model_validate_json(run.stdout)
    b = next(s for s in plan.sites if s.site == "b")
    facility = b.it_kw * 1.2
    assert b.carbon_kg_per_hour == pytest.approx(facility * 0.150, abs=1e-3)  # 100 + 10 x 5 g at 05:00
    assert plan.over_day is not None and plan.over_day.start == T0
    assert plan.over_day.carbon_kg_per_hour.min == pytest.approx(facility * 0.100, abs=1e-3)
    assert plan.over_day.carbon_kg_per_hour.max == pytest.approx(facility * 0.330, abs=1e-3)
    plain = Plan.model_validate_json(fleetyard("plan", folder, "--no-resilience", "--format", "json").stdout)
    b0 = next(s for s in plain.sites if s.site == "b")
    assert b0.carbon_kg_per_hour == pytest.approx(b0.it_kw * 1.2 * 0.050, abs=1e-3)  # the constant


def test_plan_table_shows_the_range(tmp_path):
    run = fleetyard("plan", cf.write(tmp_path, trace=DAY, site="b"), "--no-resilience")
    assert run.code == 0, run.stderr
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("Over"))
    assert "2020-06-01 (UTC)" in line and "/h" in line and "kg CO2/h" in line


def test_at_outside_the_trace_is_exit_2_naming_site_trace_and_time(tmp_path):
    folder = cf.write(tmp_path, trace=DAY, site="b")
    run = fleetyard("plan", folder, "--at", "2020-06-03T00:00:00Z", "--no-resilience")
    assert run.code == 2 and run.stdout == ""
    assert "--at: site b: trace" in run.stderr and "b.csv does not cover 2020-06-03T00:00:00Z" in run.stderr
    assert "it covers 2020-06-01T00:00:00Z to 2020-06-02T00:00:00Z" in run.stderr
    ok = fleetyard("plan", folder, "--at", "2020-06-03T05:00:00Z", "--extend", "repeat-daily",
                   "--no-resilience", "--format", "json")
    assert ok.code == 0, ok.stderr
    plan = Plan.model_validate_json(ok.stdout)
    assert plan.over_day is not None and plan.over_day.start.isoformat() == "2020-06-03T00:00:00+00:00"


@pytest.mark.parametrize(("args", "words"), [
    (("--at", "2020-06-01"), "--at: expected a time with a UTC offset"),
    (("--day", "June 1st"), "--day: expected a UTC day such as 2020-06-01"),
    (("--day", "2020-06-05"), "hourly range: site b: trace"),
])
def test_bad_times_are_exit_2(tmp_path, args, words):
    run = fleetyard("plan", cf.write(tmp_path, trace=DAY, site="b"), *args, "--no-resilience")
    assert run.code == 2 and words in run.stderr


def test_no_trace_no_range(tmp_path):
    run = fleetyard("plan", cf.write(tmp_path), "--no-resilience", "--format", "json")
    assert run.code == 0 and Plan.model_validate_json(run.stdout).over_day is None
    day = fleetyard("plan", cf.write(tmp_path), "--day", "2020-06-01", "--no-resilience")
    assert day.code == 2 and "no site has an energy trace" in day.stderr
