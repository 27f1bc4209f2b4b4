"""Energy traces (issue 11): reading, checking, resampling, and the schedule block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from fleetyard.energy.timeline import TraceGap, fleet_at, site_series
from fleetyard.spec import load_fleet
from fleetyard.spec.loader import trace_path
from fleetyard.spec.trace import parse_trace

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2020, 6, 1, tzinfo=UTC)


def hourly(values: list[float], column: str = "carbon_g_per_kwh", start: str = "2020-06-01T00") -> str:
    t = datetime.fromisoformat(start + ":00:00+00:00")
    rows = [f"{(t + timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{v}" for i, v in enumerate(values)]
    return "\n".join([f"time,{column}", *rows]) + "\n"


def only_problems(text: str) -> list[tuple[int | None, str, str]]:
    trace, problems = parse_trace(text, "t.csv")
    assert trace is None
    return [(p.line, p.path, p.message) for p in problems]


def test_a_trace_is_read_at_its_step() -> None:
    text = "time,carbon_g_per_kwh,price_per_kwh,pue\n" + "\n".join(
        f"2020-06-01T{h // 4:02d}:{15 * (h % 4):02d}:00Z,{100 + h},0.1,1.2" for h in range(8)) + "\n"
    trace, problems = parse_trace(text, "t.csv")
    assert problems == [] and trace is not None
    assert (trace.start, trace.step_s, trace.length) == (T0, 900, 8)
    assert trace.end == T0 + timedelta(hours=2)
    assert trace.value_at("carbon_g_per_kwh", T0 + timedelta(minutes=31)) == 102.0
    # the hour's mean of four 15-minute values: (100 + 101 + 102 + 103) / 4
    assert trace.mean("carbon_g_per_kwh", T0, T0 + timedelta(hours=1)) == pytest.approx(101.5)
    # a half-open interval cutting steps: 10 min of 100, 15 of 101, 5 of 102
    assert trace.mean("carbon_g_per_kwh", T0 + timedelta(minutes=5), T0 + timedelta(minutes=35)) == (
        pytest.approx((10 * 100 + 15 * 101 + 5 * 102) / 30))


def test_an_offset_other_than_utc_is_converted() -> None:
    trace, problems = parse_trace("time,pue\n2020-06-01T02:00:00+02:00,1.2\n2020-06-01T03:00:00+02:00,1.3\n", "t")
    assert problems == [] and trace is not None and trace.start == T0


@pytest.mark.parametrize(("text", "expected"), [
    ("time,carbon_g_per_kwh\n2020-06-01T00:00:00Z,1\n2020-06-01T01:00:00Z,2\n2020-06-01T03:00:00Z,3\n",
     (4, "time", "a gap: expected 2020-06-01T02:00:00Z (step 1:00:00), found 2020-06-01T03:00:00Z")),
    ("time,carbon_g_per_kwh\n2020-06-01T00:00:00Z,1\n2020-06-01T01:00:00Z,2\n2020-06-01T01:00:00Z,3\n",
     (4, "time", "duplicate time 2020-06-01T01:00:00Z (first on line 3)")),
    ("time,carbon_g_per_kwh\n2020-06-01T00:00:00Z,1\n2020-06-01T01:00:00Z,-5\n",
     (3, "carbon_g_per_kwh", "expected a number from 0 to 2000, found '-5'")),
    ("time,pue\n2020-06-01T00:00:00Z,0.9\n2020-06-01T01:00:00Z,1.1\n",
     (2, "pue", "expected a number from 1 to 3, found '0.9'")),
    ("time,price_per_kwh\n2020-06-01T00:00:00Z,cheap\n2020-06-01T01:00:00Z,0.1\n",
     (2, "price_per_kwh", "expected a number, found 'cheap'")),
    ("time,price_per_kwh\n2020-06-01T00:00:00Z,nan\n2020-06-01T01:00:00Z,0.1\n",
     (2, "price_per_kwh", "expected a number from 0 to 100, found 'nan'")),
    ("time,carbon,pue\n2020-06-01T00:00:00Z,1,1.1\n",
     (1, "carbon", "unknown column 'carbon' (did you mean 'carbon_g_per_kwh'?)")),
    ("Time,carbon_g_per_kwh\n2020-06-01T00:00:00Z,1\n",
     (1, "time", "required column 'time' is missing (found 'time': the column must be named exactly 'time')")),
    ("time,carbon_g_per_kwh\n2020-06-01 00:00:00,1\n2020-06-01 01:00:00,2\n",
     (2, "time", "no offset: write Z if it is UTC")),
    ("time,carbon_g_per_kwh\n2020-06-01T00:00:00Z,1\n2020-06-01T00:00:30Z,2\n",
     (3, "time", "expected a step between 1 minute and 1 day, found 0:00:30")),
    ("time,carbon_g_per_kwh\n2020-06-01T00:00:00Z,1,7\n2020-06-01T01:00:00Z,2\n",
     (2, "", "expected 2 fields (time, carbon_g_per_kwh), found 3")),
    ("time,carbon_g_per_kwh\n2020-06-01T00:00:00Z,1\n",
     (2, "", "expected at least two rows")),
    ("", (1, "", "empty trace")),
])
def test_a_bad_trace_names_its_line_and_column(text: str, expected: tuple[int, str, str]) -> None:
    problems = only_problems(text)
    line, path, words = expected
    assert any(p[0] == line and p[1] == path and words in p[2] for p in problems), problems


def test_many_problems_are_counted_not_listed() -> None:
    text = "time,carbon_g_per_kwh\n" + "".join(f"2020-06-01T{h:02d}:00:00Z,-1\n" for h in range(24))
    problems = only_problems(text)
    assert len(problems) == 21 and "4 more problem(s)" in problems[-1][2]


def test_means_over_many_slots_match_a_loop() -> None:
    rng = np.random.default_rng(7)
    values = [round(float(v), 2) for v in rng.uniform(50, 500, 96)]
    trace, _ = parse_trace(hourly(values), "t")
    assert trace is not None
    edges = trace.start_s + np.arange(0, 96 * 3600 + 1, 2 * 3600, dtype=np.float64)
    got = trace.means("carbon_g_per_kwh", edges)
    assert got == pytest.approx([(values[2 * i] + values[2 * i + 1]) / 2 for i in range(48)])
    with pytest.raises(ValueError, match="does not cover"):
        trace.means("carbon_g_per_kwh", edges + 3600)


def test_repeat_daily_repeats_the_nearest_day() -> None:
    values = [float(h) for h in range(48)]  # two days: 0..23, then 24..47
    trace, _ = parse_trace(hourly(values), "t")
    assert trace is not None
    wide = trace.repeat_daily(T0 - timedelta(days=1), T0 + timedelta(days=4))
    assert wide.value_at("carbon_g_per_kwh", T0 - timedelta(hours=23)) == 1.0  # before: the first day
    assert wide.value_at("carbon_g_per_kwh", T0 + timedelta(hours=5)) == 5.0  # inside: unchanged
    assert wide.value_at("carbon_g_per_kwh", T0 + timedelta(days=3, hours=7)) == 31.0  # after: the last day
    assert wide.missing(T0 - timedelta(days=1), T0 + timedelta(days=4)) is None


def test_trace_paths_are_relative_to_the_spec_file() -> None:
    assert trace_path("fleet/sites.yaml", "traces/de.csv") == "fleet/traces/de.csv"
    assert trace_path("fleet/sites.yaml", "../shared/de.csv") == "shared/de.csv"
    assert trace_path("sites.yaml", "/data/de.csv") == "/data/de.csv"


def test_the_example_traces_load_and_price_the_fleet_over_time() -> None:
    fleet = load_fleet([ROOT / "examples" / "fleet"]).fleet
    assert set(fleet.traces) == {"fra-1", "par-1", "muc-edge", "aws-eu-central-1"}
    de = fleet.traces["fra-1"]
    assert de is fleet.traces["muc-edge"]  # one file, read once
    assert (de.step_s, de.start) == (3600, datetime(2019, 12, 20, tzinfo=UTC))
    assert de.end == datetime(2021, 1, 10, tzinfo=UTC)
    day = site_series(fleet, "fra-1", T0, [1.0] * 24)
    assert day.carbon_g_per_kwh.max() > 1.5 * day.carbon_g_per_kwh.min()  # Germany swings within a day
    site = fleet.sites["fra-1"].spec  # constants where the trace has no column
    assert set(day.price_per_kwh) == {site.energy.price_per_kwh} and set(day.pue) == {site.power.pue}
    noon = fleet_at(fleet, T0 + timedelta(hours=12))
    assert noon.sites["fra-1"].spec.energy.carbon_g_per_kwh == de.value_at("carbon_g_per_kwh", T0 + timedelta(hours=12))
    assert noon.sites["hel-1"] == fleet.sites["hel-1"]  # no trace: unchanged
    with pytest.raises(TraceGap, match=r"site fra-1: trace .*de-2020.csv does not cover 2021-01-10T00:00:00Z"):
        site_series(fleet, "fra-1", datetime(2021, 1, 9, tzinfo=UTC), [1.0] * 48)
    extended = site_series(fleet, "fra-1", datetime(2021, 1, 9, tzinfo=UTC), [1.0] * 48, extend="repeat-daily")
    assert list(extended.carbon_g_per_kwh[24:]) == list(extended.carbon_g_per_kwh[:24])


def test_a_missing_trace_is_a_problem_at_the_site(fleet_dir) -> None:
    site = fleet_dir.edit(fleet_dir.SITE, "carbon_g_per_kwh: 380}", "carbon_g_per_kwh: 380, trace: traces/nope.csv}")
    f = fleet_dir.fleet(SITE=site)
    fleet_dir.expect_error(f, fleet_dir.line(f, "trace: traces/nope.csv"), "spec.energy.trace",
                           "cannot read trace 'traces/nope.csv'", "no such file", "traces/nope.csv")


def test_a_bad_trace_fails_validation_with_its_file_and_line(fleet_dir) -> None:
    site = fleet_dir.edit(fleet_dir.SITE, "carbon_g_per_kwh: 380}", "carbon_g_per_kwh: 380, trace: t/de.csv}")
    fleet_dir.fleet(SITE=site)
    bad = fleet_dir.root / "t" / "de.csv"
    bad.parent.mkdir()
    bad.write_text(hourly([1, 2, 3]).replace("T01:00:00Z,2", "T01:00:00Z,-2"))
    result = fleet_dir.validate()
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{bad.as_posix()}:3 carbon_g_per_kwh: expected a number from 0 to 2000, found '-2'" in result.stderr


SCHEDULED = """\
  schedule: {earliest: 2020-06-01T00:00:00Z, deadline: 2020-06-01T04:00:00Z, duration_h: 6}
"""


def test_a_window_shorter_than_the_job_is_an_error(fleet_dir) -> None:
    f = fleet_dir.fleet(JOB=fleet_dir.JOB + SCHEDULED)
    fleet_dir.expect_error(f, fleet_dir.line(f, "schedule:"), "spec.schedule",
                           "is 4 h, shorter than duration_h 6")


def test_a_schedule_needs_utc_times_and_a_job(fleet_dir) -> None:
    f = fleet_dir.fleet(JOB=fleet_dir.JOB + SCHEDULED.replace("00:00:00Z, dead", "00:00:00, dead"))
    fleet_dir.expect_error(f, fleet_dir.line(f, "schedule:"), "spec.schedule.earliest", "UTC offset")
    f = fleet_dir.fleet(WORKLOAD=fleet_dir.WORKLOAD + SCHEDULED.replace("duration_h: 6", "duration_h: 2"))
    fleet_dir.expect_error(f, fleet_dir.line(f, "schedule:"), "spec.schedule", "only for batch, fine-tune")


def test_a_scheduled_job_is_deferred_not_planned(fleet_dir) -> None:
    fleet_dir.fleet(JOB=fleet_dir.JOB + SCHEDULED.replace("duration_h: 6", "duration_h: 2"))
    fleet = fleet_dir.load().fleet
    job = fleet.workloads["train-llm"].spec.schedule
    assert job is not None and job.earliest == T0 and job.window_h == 4.0
    assert [w.name for w in fleet.deferred()] == ["train-llm"]
    assert "train-llm" not in fleet.always_on().workloads
    from fleetyard.placement import plan_fleet
    from fleetyard.placement.planner import PlanOptions

    plan = plan_fleet(fleet, PlanOptions(strategy="greedy", resilience=False))
    assert plan.deferred == ["train-llm"] and all(a.workload != "train-llm" for a in plan.assignments)
