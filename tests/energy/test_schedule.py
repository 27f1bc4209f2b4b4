"""Unit tests of the scheduler: windows, patterns, the bound, capacity, reasons, trace gaps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fleetyard.energy.jobs import Job
from fleetyard.energy.patterns import best_patterns, runs_of
from fleetyard.energy.schedule import schedule_fleet
from fleetyard.energy.timeline import TraceGap
from fleetyard.spec.trace import format_time
from tests.energy.sched_builders import T0, always_on, at, hourly, job, with_traces
from tests.placement.builders import fleet, objective, policy, site, workload

FLAT = [300.0] * 48


def _one_site(*jobs, carbon=FLAT, gpus=8, it_kw=100.0, cooling=None, carbon_price=0.0, extra=()):
    f = fleet(site("fra", gpus={"H100-SXM": gpus}, it_kw=it_kw, cooling=cooling), *jobs, *extra,
              objective(carbon_price=carbon_price))
    return with_traces(f, {"fra": hourly(carbon)})


def test_non_interruptible_job_moves_to_the_cleanest_hours():
    carbon = [400.0] * 48
    carbon[10:14] = [50.0] * 4
    f = _one_site(job("j", duration=4, deadline=24), carbon=carbon)
    s = schedule_fleet(f, always_on(f), T0, 24, objective="carbon")
    (j,) = s.jobs
    assert [(x.start, x.end) for x in j.slots] == [(format_time(at(10)), format_time(at(14)))]
    # 1 kW IT x PUE 1.2 x 4 h x 50 g/kWh
    assert j.carbon_kg == pytest.approx(1.2 * 4 * 50 / 1000)
    assert j.kwh == pytest.approx(1.2 * 4)
    (b,) = s.baseline.jobs
    assert b.slots[0].start == format_time(T0)  # run now: at earliest
    assert b.carbon_kg == pytest.approx(1.2 * 4 * 400 / 1000)
    assert s.savings is not None and s.savings.carbon_pct == pytest.approx(87.5)
    assert s.bound is not None and s.bound.status == "optimal" and s.bound.gap == 0.0


def test_cost_objective_prices_carbon_at_the_objective_carbon_price():
    carbon = [400.0] * 24
    carbon[20:22] = [100.0, 100.0]
    f = _one_site(job("j", duration=2, deadline=24), carbon=carbon, carbon_price=100.0)
    s = schedule_fleet(f, always_on(f), T0, 24, objective="cost")
    (j,) = s.jobs
    assert j.slots[0].start == format_time(at(20))
    energy = 1.0 * 1.2 * 2 * 0.10  # IT kW x PUE x h x $/kWh (builders' constant price)
    carbon_cost = 1.0 * 1.2 * 2 * 100.0 / 1e6 * 100.0
    assert j.cost == pytest.approx(energy + carbon_cost)
    assert s.totals.energy_cost == pytest.approx(energy) and s.totals.carbon_cost == pytest.approx(carbon_cost)


def test_interruptible_job_splits_when_the_overhead_pays():
    carbon = [500.0] * 24
    carbon[2:4] = [10.0, 10.0]
    carbon[8:11] = [10.0, 10.0, 10.0]
    f = _one_site(job("j", duration=4, interruptible=True, overhead=0.5, deadline=24), carbon=carbon)
    s = schedule_fleet(f, always_on(f), T0, 24, objective="carbon")
    (j,) = s.jobs
    assert j.resumes == 1 and j.run_hours == 5.0  # 4 h + 0.5 h overhead, in whole slots
    assert [(x.start, x.end) for x in j.slots] == [(format_time(at(2)), format_time(at(4))),
                                                   (format_time(at(8)), format_time(at(11)))]
    assert s.bound is not None and s.bound.gap == 0.0


def test_window_outside_the_horizon_is_unscheduled_with_a_reason_naming_the_horizon():
    f = _one_site(job("late", earliest=30, deadline=40), job("clipped", earliest=20, deadline=30, duration=6))
    s = schedule_fleet(f, always_on(f), T0, 24)
    reasons = {u.workload: u.reasons for u in s.unscheduled}
    assert "starts after the horizon" in reasons["late"][0]
    assert "horizon 2020-06-01T00:00:00Z to 2020-06-02T00:00:00Z" in reasons["clipped"][0]
    assert not s.jobs


def test_job_no_policy_allows_is_unscheduled_with_the_runner_summary():
    f = _one_site(job("us-only", labels={"residency": "us"}),
                  extra=[policy("us", {"residency": "us"}, allowed={"countries": ["US"]})])
    s = schedule_fleet(f, always_on(f), T0, 24)
    (u,) = s.unscheduled
    assert u.workload == "us-only" and u.reasons[0].startswith("0/1 sites are available")


def test_always_on_plan_leaves_too_little_and_it_says_what():
    f = _one_site(job("big", gpus=4), gpus=8, extra=[workload("web", gpus=1, replicas=(6, 6))])
    s = schedule_fleet(f, always_on(f), T0, 24)
    (u,) = s.unscheduled
    assert "2 free H100-SXM < 4 GPUs" in u.reasons[0]


def test_jobs_competing_for_a_clean_hour_share_capacity_and_stay_within_it():
    carbon = [400.0] * 24
    carbon[5:7] = [20.0, 20.0]
    jobs = [job(f"j{i}", duration=2, gpus=4, deadline=24) for i in range(3)]
    f = _one_site(*jobs, carbon=carbon, gpus=8)
    s = schedule_fleet(f, always_on(f), T0, 24, objective="carbon")
    assert len(s.jobs) == 3
    starts = sorted(j.slots[0].start for j in s.jobs)
    assert starts.count(format_time(at(5))) == 2  # two fit the clean hours, the third cannot
    assert s.bound is not None and s.bound.capacity_rows > 0
    assert s.bound.bound <= s.bound.value + 1e-9
    assert s.bound.gap > 0  # the third job is proven dearer than its own optimum


def test_power_headroom_binds_per_slot():
    carbon = [400.0] * 24
    carbon[3:5] = [20.0, 20.0]
    jobs = [job(f"j{i}", duration=2, power_kw=6.0, deadline=24) for i in range(2)]
    f = _one_site(*jobs, carbon=carbon, it_kw=10.0)  # room for one 6 kW job at a time
    s = schedule_fleet(f, always_on(f), T0, 24, objective="carbon")
    spans = sorted((j.slots[0].start, j.slots[-1].end) for j in s.jobs)
    assert len(spans) == 2 and spans[0][1] <= spans[1][0]


def test_trace_gap_names_site_trace_and_interval_and_repeat_daily_extends():
    f = _one_site(job("j"), carbon=[300.0] * 24)
    with pytest.raises(TraceGap) as err:
        schedule_fleet(f, always_on(f), T0, 48)
    assert err.value.site == "fra" and err.value.trace == "trace.csv"
    assert (err.value.start, err.value.end) == (at(24), at(48))
    s = schedule_fleet(f, always_on(f), T0, 48, extend="repeat-daily")
    assert len(s.jobs) == 1


def _brute(obj: np.ndarray, duration: float, overhead: float) -> float:
    best = math.inf
    width = obj.shape[1]
    for o in range(obj.shape[0]):
        for n in range(1, width + 1):
            for combo in itertools.combinations(range(width), n):
                slots = np.array(combo)
                if n >= math.ceil(duration + overhead * (runs_of(slots) - 1) - 1e-9):
                    best = min(best, float(obj[o, slots].sum()))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_interruptible_search_is_exact_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    obj = rng.uniform(1, 10, size=(2, 9))
    duration, overhead = float(rng.integers(2, 5)), float(rng.choice([0.0, 0.5, 1.0]))
    w = job("j", duration=duration, interruptible=True, overhead=overhead, deadline=9)
    j = Job(w=w, order=0, lo=0, hi=9, need=math.ceil(duration), duration=duration, interruptible=True,
            overhead=overhead, pools=np.arange(2), sites=np.zeros(2, dtype=np.int64), gpus=1, kw=np.ones(2),
            fixed=np.zeros(2), rent=np.zeros(2), egress=np.zeros(2), slot_h=1.0)
    res = best_patterns(0, j, obj, 3)
    want = _brute(obj, duration, overhead)
    assert res.candidates[0].value == pytest.approx(want)
    assert res.bound == pytest.approx(want)
    top = res.candidates[0]
    assert float(obj[top.option, top.slots].sum()) == pytest.approx(top.value)
