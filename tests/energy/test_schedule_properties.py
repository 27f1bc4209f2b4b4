"""Invariants of every schedule on small random fleets and job sets (Hypothesis).

Checked from the `Schedule` output alone, against the fleet and the always-on plan: no
capacity (GPUs per pool, IT power, cooling) is exceeded in any slot, no job starts
before `earliest` or ends after `deadline` (or outside the horizon), every job runs
long enough (interruptible: duration + overhead per resume), every deferred job is
either scheduled or listed with reasons, and the schedule is never worse than the
run-now baseline under the chosen objective.
"""

from __future__ import annotations

import math
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetyard.energy.jobs import CARBON_COST_WEIGHT
from fleetyard.energy.schedule import schedule_fleet
from fleetyard.spec.trace import parse_time
from tests.energy.sched_builders import T0, always_on, hourly, job, with_traces
from tests.placement.builders import fleet, objective, site, workload

SKUS = ["H100-SXM", "L40S", "A100-80GB"]
HORIZON = 24


@st.composite
def cases(draw):
    resources = []
    n_sites = draw(st.integers(1, 3))
    traces = {}
    for i in range(n_sites):
        skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=2, unique=True))
        gpus = {k: (draw(st.sampled_from([2, 4, 8, 16])), draw(st.sampled_from([0.0, 1.0, 2.0]))) for k in skus}
        it_kw = draw(st.sampled_from([4.0, 10.0, 30.0]))
        cooling = draw(st.sampled_from([None, it_kw * 0.7]))
        resources.append(site(f"s{i}", gpus=gpus, it_kw=it_kw, cooling=cooling,
                              pue=draw(st.sampled_from([1.1, 1.5])), price=draw(st.sampled_from([0.05, 0.2]))))
        if draw(st.booleans()):
            traces[f"s{i}"] = hourly(draw(st.lists(st.floats(20, 600), min_size=HORIZON, max_size=HORIZON)))
    if draw(st.booleans()):
        resources.append(workload("web", gpus=1, replicas=(draw(st.integers(1, 4)),) * 2, power_kw=1.0))
    for k in range(draw(st.integers(1, 6))):
        duration = draw(st.integers(1, 6))
        earliest = draw(st.integers(-4, 20))
        deadline = earliest + duration + draw(st.integers(0, 12))
        interruptible = draw(st.booleans())
        resources.append(job(f"j{k}", earliest=earliest, deadline=deadline, duration=duration,
                             interruptible=interruptible, overhead=draw(st.sampled_from([0.0, 0.5, 1.0])),
                             gpus=draw(st.sampled_from([1, 2, 4])), replicas=draw(st.integers(1, 2)),
                             power_kw=draw(st.sampled_from([0.5, 2.0, 5.0])),
                             priority=draw(st.sampled_from([0, 50]))))
    resources.append(objective(carbon_price=draw(st.sampled_from([0.0, 80.0, 500.0]))))
    return with_traces(fleet(*resources), traces), draw(st.sampled_from(["cost", "carbon"]))


def _slot(text: str) -> int:
    t = parse_time(text)
    assert not isinstance(t, str)
    h = (t - T0).total_seconds() / 3600
    assert h == int(h)
    return int(h)


def _value(kg: float, cost: float, objective: str) -> float:
    return kg + CARBON_COST_WEIGHT * cost if objective == "carbon" else cost


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_schedule_invariants(case):
    f, obj = case
    plan = always_on(f)
    s = schedule_fleet(f, plan, T0, HORIZON, objective=obj)
    by_name = {w.name: w for w in f.deferred()}
    seen = [j.workload for j in s.jobs] + [u.workload for u in s.unscheduled]
    assert sorted(seen) == sorted(by_name)  # nothing silently dropped
    assert all(u.reasons for u in s.unscheduled)

    gpus: dict[tuple[str, str, int], int] = defaultdict(int)
    kw: dict[tuple[str, int], float] = defaultdict(float)
    for usage in plan.sites:
        for t in range(HORIZON):
            kw[usage.site, t] += usage.it_kw
            for sku, n in usage.gpus_used.items():
                gpus[usage.site, sku, t] += n
    for j in s.jobs:
        w = by_name[j.workload]
        sched = w.spec.schedule
        assert sched is not None
        slots = [t for x in j.slots for t in range(_slot(x.start), _slot(x.end))]
        assert slots and min(slots) >= 0 and max(slots) < HORIZON
        assert parse_time(j.slots[0].start) >= sched.earliest  # type: ignore[operator]
        assert parse_time(j.slots[-1].end) <= sched.deadline  # type: ignore[operator]
        assert j.run_hours == len(slots)
        if sched.interruptible:
            assert j.run_hours >= sched.duration_h + sched.checkpoint_overhead_h * j.resumes - 1e-9
        else:
            assert len(j.slots) == 1 and j.run_hours == math.ceil(sched.duration_h)
        for t in slots:
            gpus[j.site, j.gpu_sku, t] += j.replicas * w.spec.replica.gpus
            kw[j.site, t] += j.replicas * float(w.spec.replica.power_kw or 0.0)
    for (name, sku, _t), used in gpus.items():
        count = sum(p.count for p in f.sites[name].spec.gpus if p.sku == sku)
        assert used <= count
    for (name, _t), used in kw.items():
        spec = f.sites[name].spec
        assert used <= min(spec.power.it_capacity_kw, spec.cooling_capacity_kw) + 1e-6

    def weight(names: list[str]) -> float:
        return sum(1 + max(by_name[n].spec.priority, 0) / 100 for n in names)

    mine, theirs = weight([j.workload for j in s.jobs]), weight([j.workload for j in s.baseline.jobs])
    assert mine >= theirs - 1e-9  # never schedules less (priority-weighted) than run-now
    if abs(mine - theirs) < 1e-9:
        assert _value(s.totals.carbon_kg, s.totals.cost, obj) <= \
            _value(s.baseline.totals.carbon_kg, s.baseline.totals.cost, obj) + 1e-3
    assert s.bound is not None and s.bound.bound <= s.bound.value + 1e-6
