"""The availability machine: grace, hold-off, a miss restarts it; flapping moves work at most once each way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetyard.rollout.availability import Availability, AvailabilityPolicy, Transition, decide, span

T0 = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
POLICY = AvailabilityPolicy(grace=30, hold_off=300, miss_after=6)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(heartbeats: list[float], until: float, policy: AvailabilityPolicy = POLICY,
        tick: float = 1.0) -> tuple[list[Transition], list[tuple[float, float | None, Availability]]]:
    """Tick every `tick` s from 0 to `until`, feeding the last heartbeat at or before each tick."""
    beats = sorted(heartbeats)
    state: Availability | None = None
    transitions: list[Transition] = []
    trace: list[tuple[float, float | None, Availability]] = []
    i, last = 0, None
    t = 0.0
    while t <= until:
        while i < len(beats) and beats[i] <= t:
            last = beats[i]
            i += 1
        state, change = decide(state, at(last) if last is not None else None, at(t), policy)
        if change is not None:
            transitions.append(change)
        trace.append((t, last, state))
        t += tick
    return transitions, trace


def every(start: float, stop: float, interval: float = 1.0) -> list[float]:
    out, t = [], start
    while t < stop:
        out.append(t)
        t += interval
    return out


def test_span_in_words() -> None:
    assert [span(s) for s in (0, 1.44, 3, 34, 119.6, 300, 3600, 7500)] == [
        "0 s", "1.4 s", "3 s", "34 s", "2 min", "5 min", "60 min", "2 h 5 min"]


def test_silence_past_grace_makes_a_site_unavailable_with_the_reason() -> None:
    changes, trace = run(every(0, 10), until=45)
    assert [(c.before, c.after, c.moves) for c in changes] == [("available", "unavailable", "out")]
    assert changes[0].reason == "no heartbeat for 31 s (grace 30 s)"
    assert changes[0].at == at(40)  # the last heartbeat at 9 s: more than 30 s of silence first at 40 s
    assert trace[-1][2].down and trace[-1][2].down_since == at(40)


def test_a_site_that_never_reported_stays_available() -> None:
    changes, trace = run([], until=100)
    assert changes == [] and not trace[-1][2].down


def test_work_moves_back_only_after_the_hold_off_without_a_miss() -> None:
    beats = every(0, 10) + every(60, 700)
    changes, _ = run(beats, until=700)
    assert [(c.after, c.moves) for c in changes] == [("unavailable", "out"), ("returning", None),
                                                     ("available", "back")]
    returning, back = changes[1], changes[2]
    assert returning.reason == "heartbeating again since 10:01:00; work moves back after 5 min without a miss"
    assert (back.at - at(60)).total_seconds() == 300
    assert back.reason.startswith("heartbeating without a miss for 5 min (hold-off 5 min); down for")


def test_a_miss_while_returning_restarts_the_hold_off() -> None:
    # back at 60 s, a 10 s gap at 200 s (a miss: > 6 s), steady from 210 s
    beats = every(0, 10) + every(60, 200) + every(210, 900)
    changes, _ = run(beats, until=900)
    assert [c.moves for c in changes].count("out") == 1
    back = [c for c in changes if c.moves == "back"]
    assert len(back) == 1 and (back[0].at - at(210)).total_seconds() >= 300


def test_a_gap_between_two_looks_is_a_miss_too() -> None:
    # The observer looks every 4 s: a 10 s gap between looks is seen only as two heartbeats 10 s apart.
    beats = every(0, 10) + every(60, 200) + every(210, 1000)
    changes, _ = run(beats, until=1000, tick=4.0)
    back = [c for c in changes if c.moves == "back"]
    assert len(back) == 1 and (back[0].at - at(210)).total_seconds() >= 300


def test_a_restarted_observer_does_not_count_its_own_absence() -> None:
    state, change = decide(None, at(0), at(100), POLICY, watching_since=at(95))
    assert change is None and not state.down
    state, change = decide(state, at(0), at(126), POLICY, watching_since=at(95))
    assert change is not None and change.moves == "out"


def test_the_state_round_trips_through_its_document() -> None:
    _, trace = run(every(0, 10) + every(60, 100), until=100)
    for _t, _last, state in trace:
        assert Availability.from_doc(state.to_doc()) == state
    with pytest.raises(ValueError, match="not an availability document"):
        Availability.from_doc({"state": "maybe"})


def test_policy_bounds() -> None:
    with pytest.raises(ValueError, match="grace"):
        AvailabilityPolicy(grace=0)
    with pytest.raises(ValueError, match="hold_off"):
        AvailabilityPolicy(hold_off=-1)


def test_a_link_flapping_every_20_s_for_5_minutes_moves_work_out_once_and_back_once() -> None:
    policy = AvailabilityPolicy(grace=10, hold_off=60, miss_after=3)
    beats: list[float] = []
    t = 0.0
    while t < 300:  # 20 s up, 20 s down, for five minutes
        beats += every(t, t + 20)
        t += 40
    beats += every(300, 600)
    changes, _ = run(beats, until=600, policy=policy)
    assert [c.moves for c in changes].count("out") == 1
    assert [c.moves for c in changes].count("back") == 1
    assert next(c for c in changes if c.moves == "back").at >= at(280 + 60)  # the last outage ended at 280 s


# ---- properties ------------------------------------------------------------------------------------

segments = st.lists(st.tuples(st.integers(0, 90), st.integers(0, 90)), min_size=1, max_size=12)
policies = st.builds(AvailabilityPolicy, grace=st.integers(3, 40).map(float), hold_off=st.integers(0, 120).map(float),
                     miss_after=st.integers(2, 10).map(float))


def _beats(segs: list[tuple[int, int]], interval: float) -> tuple[list[float], float]:
    """Up for a, down for b, repeatedly; heartbeats every `interval` while up."""
    beats: list[float] = []
    t = 0.0
    for up, down in segs:
        beats += every(t, t + up, interval)
        t += up + down
    return beats, t + 30


@settings(max_examples=300, deadline=None)
@given(segments, policies, st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([1.0, 3.0]))
def test_any_heartbeat_sequence_moves_work_only_by_the_rules(segs: list[tuple[int, int]], policy: AvailabilityPolicy,
                                                            interval: float, tick: float) -> None:
    beats, until = _beats(segs, interval)
    changes, trace = run(beats, until, policy, tick)
    by_time = {t: (last, s) for t, last, s in trace}
    moves = [c.moves for c in changes if c.moves]
    # out and back alternate, starting with out
    assert all(m == ("out" if i % 2 == 0 else "back") for i, m in enumerate(moves))
    misses: list[float] = []  # ticks at which the observer saw a miss (silence, or a gap between looks)
    resumed: dict[float, float | None] = {}  # miss tick -> the heartbeat heartbeats resumed with
    prev_last: float | None = None
    for k, (t, last, _s) in enumerate(trace):
        silent = last is not None and (t - last) > policy.miss
        gap = last is not None and prev_last is not None and last > prev_last and last - prev_last > policy.miss
        if silent or gap:
            misses.append(t)
            later = [x for _t, x, _ in trace[k + 1:] if x is not None and x != last]
            resumed[t] = last if not silent else (later[0] if later else None)
        prev_last = last if last is not None else prev_last
    for c in changes:
        t = (c.at - T0).total_seconds()
        last, _s = by_time[t]
        if c.moves == "out":  # only after `grace` of silence
            assert last is not None and t - last > policy.grace
        if c.moves == "back":  # only after `hold_off` of heartbeats without a miss since they last resumed
            assert last is not None and t - last <= policy.miss
            latest = max(m for m in misses if m <= t)
            start = resumed[latest]
            assert start is not None and t - start >= policy.hold_off, (t, latest, start)
    # Flap episodes: misses less than hold_off apart. Each episode moves work out at most once, and back at most
    # once, and the back comes only after it.
    episodes: list[list[float]] = []
    for m in misses:
        if episodes and m - episodes[-1][-1] < policy.hold_off:
            episodes[-1].append(m)
        else:
            episodes.append([m])
    for ep in episodes:
        start, end = ep[0], ep[-1]
        inside = [c for c in changes if start <= (c.at - T0).total_seconds() <= end]
        assert [c.moves for c in inside].count("out") <= 1
        assert [c.moves for c in inside].count("back") == 0
