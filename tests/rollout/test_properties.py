"""Properties of the rollout state machine under any sequence of health reports (Hypothesis).

* No sequence of reports advances a failing wave: a step at which a site of the current
  wave fails its gate never bakes that wave, never starts the next one, and a wave only
  succeeds after every site of it was healthy at that step, `bake_s` after baking began.
* No site is left without a healthy version it had before: with auto_rollback, after any
  step every site on the new version is in a wave none of whose sites failed; once a gate
  fails every site is back on the old version (which the agent still holds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetyard.rollout import Candidate, Observation, Policy, SiteView, Version, choose_waves, judge, site_version
from fleetyard.rollout import start as start_rollout
from fleetyard.rollout import step as step_rollout
from fleetyard.spec.rollout import HealthSpec, MetricsGate, Wave

T0 = datetime(2026, 12, 2, tzinfo=UTC)
SITES = [Candidate(f"s{i}-1", float(i % 3)) for i in range(6)]
HEALTH = HealthSpec(deadline_s=30, min_healthy_ratio=0.5, metrics=MetricsGate(max_error_ratio=0.1))
OBS = st.one_of(
    st.none(),
    st.builds(Observation, model=st.sampled_from(["m:2", "m:1"]), ready=st.integers(0, 3), total=st.just(3),
              validation=st.sampled_from(["none", "passed", "failed", "running"]),
              error_ratio=st.one_of(st.none(), st.floats(0, 0.3))),
)
STEPS = st.lists(st.tuples(st.floats(0.1, 20), st.lists(OBS, min_size=len(SITES), max_size=len(SITES))),
                 max_size=40)


def _run(steps: list[tuple[float, list[Observation | None]]], auto_rollback: bool) -> None:
    policy = Policy(bake_s=5, health=HEALTH, validate_timeout_s=None, auto_rollback=auto_rollback)
    waves = choose_waves([Wave(sites=1), Wave(percent=50), Wave(percent=100)], SITES)
    r, _ = start_rollout("w", Version("m:1"), Version("m:2"), waves, policy, T0)
    now = T0
    for dt, obs in steps:
        now += timedelta(seconds=dt)
        views = {c.name: SiteView(3, o) for c, o in zip(SITES, obs, strict=True)}
        before = r.current()
        before_index, before_state = (before.index, before.state) if before else (None, None)
        started = before.started_at if before else None
        baking_since = before.baking_since if before else None
        verdicts = {}
        if before is not None and started is not None and before.state in ("progressing", "baking"):
            elapsed = (now - started).total_seconds()
            verdicts = {s: judge(s, HEALTH, 3, views[s].observation, "m:2", elapsed,
                                 baking=before.state == "baking").status for s in before.sites}
        step_rollout(r, now, views)
        if before_index is None or before_state not in ("progressing", "baking"):
            continue
        w = r.waves[before_index]
        if "failed" in verdicts.values():
            assert w.state in ("failed", "rolled_back")
            assert all(x.state == "pending" for x in r.waves[before_index + 1:])
        if w.state == "succeeded":
            assert set(verdicts.values()) == {"healthy"}
            assert before_state == "baking" and baking_since is not None
            assert (now - baking_since).total_seconds() >= policy.bake_s
        if auto_rollback:
            if r.state == "rolled_back":
                assert all(site_version(r, c.name) == "from" for c in SITES)
            for c in SITES:
                if site_version(r, c.name) == "to":
                    wave = next(x for x in r.waves if c.name in x.sites)
                    assert wave.state in ("progressing", "baking", "succeeded")
                    if wave is w:
                        assert "failed" not in verdicts.values()
        for x in r.waves:
            if x.state == "pending":
                assert all(site_version(r, s) == "from" for s in x.sites)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_any_reports_with_auto_rollback(steps: list[tuple[float, list[Observation | None]]]) -> None:
    _run(steps, auto_rollback=True)


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_any_reports_without_auto_rollback(steps: list[tuple[float, list[Observation | None]]]) -> None:
    _run(steps, auto_rollback=False)
