"""The rollout state machine, waves and gates: unit cases, as logs of what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetyard.rollout import (
    Candidate,
    Observation,
    Policy,
    Refused,
    Rollout,
    SiteView,
    Version,
    abort,
    choose_waves,
    judge,
    pause,
    promote,
    resume,
    site_version,
    start,
    step,
)
from fleetyard.spec.rollout import HealthSpec, MetricsGate, Wave

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
OLD, NEW = Version("chat:1"), Version("chat:2")
SITES = [Candidate("fra-1", 40.0), Candidate("par-1", 10.0), Candidate("ams-1", 10.0), Candidate("sin-1", 0.0)]


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def healthy(model: str = "chat:2", ready: int = 2) -> Observation:
    return Observation(model=model, ready=ready, total=ready)


def views(obs: dict[str, Observation | None], desired: int = 2) -> dict[str, SiteView]:
    return {s.name: SiteView(desired, obs.get(s.name)) for s in SITES}


def canary(policy: Policy | None = None) -> Rollout:
    choices = choose_waves([Wave(sites=1), Wave(percent=50), Wave(percent=100)], SITES)
    r, events = start("chat", OLD, NEW, choices, policy or Policy(bake_s=10, health=HealthSpec(deadline_s=60)), T0)
    assert [e.kind for e in events] == ["rollout.started", "rollout.wave_started"]
    return r


def test_waves_least_traffic_first_ties_by_name_and_explained() -> None:
    choices = choose_waves([Wave(sites=1), Wave(percent=50), Wave(percent=100)], SITES)
    assert [c.sites for c in choices] == [["sin-1"], ["ams-1"], ["par-1", "fra-1"]]
    assert choices[0].why == "1 site with the least traffic first: sin-1 0 rps"
    assert "up to 50% of 4 sites (2)" in choices[1].why
    ring = choose_waves([Wave(selector={"ring": "canary"})],
                        [Candidate("a-1", 5, {"ring": "canary"}), Candidate("b-1", 0), Candidate("c-1", 1)])
    assert [(c.sites, c.why) for c in ring] == [(["a-1"], "the sites labelled ring=canary"),
                                                (["b-1", "c-1"], "the sites no wave named, last")]
    assert choose_waves([Wave(percent=100)], SITES) == choose_waves([Wave(percent=100)], list(reversed(SITES)))


def test_gates_in_words() -> None:
    h = HealthSpec(deadline_s=120, metrics=MetricsGate(max_error_ratio=0.01, max_p95_ms=250))
    bad = Observation("chat:2", ready=1, total=3, last_error="GET /healthz returned 500")
    assert judge("par-1", h, 3, bad, "chat:2", 60).status == "waiting"
    v = judge("par-1", h, 3, bad, "chat:2", 120)
    assert (v.status, v.reason) == ("failed", "par-1: 1/3 replicas healthy after 120 s: GET /healthz returned 500")
    assert judge("par-1", h, 3, healthy(ready=3), "chat:2", 1).status == "healthy"
    assert judge("par-1", h, 3, None, "chat:2", 121).reason == \
        "par-1: the agent reported nothing about chat:2 after 121 s"
    err = Observation("chat:2", ready=3, total=3, error_ratio=0.05)
    assert judge("par-1", h, 3, err, "chat:2", 1).reason == "par-1: error ratio 5.00% is above the limit 1.00%"
    slow = Observation("chat:2", ready=3, total=3, p95_ms=400)
    assert judge("par-1", h, 3, slow, "chat:2", 1).reason == "par-1: p95 latency 400 ms is above the limit 250 ms"
    failed = Observation("chat:2", validation="failed", validation_message="smoke.py exited with 1")
    assert judge("par-1", h, 3, failed, "chat:2", 1, validate_timeout_s=30).reason == \
        "par-1: validation of chat:2 failed: smoke.py exited with 1"
    running = Observation("chat:2", validation="running", ready=3)
    assert judge("par-1", h, 3, running, "chat:2", 130, validate_timeout_s=30).status == "waiting"
    assert judge("par-1", h, 3, running, "chat:2", 150, validate_timeout_s=30).status == "failed"
    assert judge("par-1", h, 0, None, "chat:2", 999).status == "healthy"  # no replicas there any more
    half = HealthSpec(min_healthy_ratio=0.5)
    assert judge("par-1", half, 3, healthy(ready=2), "chat:2", 1).status == "healthy"
    assert judge("par-1", half, 3, healthy(ready=1), "chat:2", 1).status == "waiting"


def test_canary_success_bakes_each_wave() -> None:
    r = canary()
    assert [site_version(r, s.name) for s in SITES] == ["from", "from", "from", "to"]
    ok = {s.name: healthy() for s in SITES}
    assert step(r, at(1), views(ok)) == [] and r.waves[0].state == "baking"
    assert step(r, at(5), views(ok)) == []
    kinds = [e.kind for e in step(r, at(11), views(ok))]
    assert kinds == ["rollout.wave_baked", "rollout.wave_started"] and r.waves[1].state == "progressing"
    assert site_version(r, "ams-1") == "to" and site_version(r, "fra-1") == "from"
    step(r, at(12), views(ok))
    step(r, at(23), views(ok))
    step(r, at(24), views(ok))
    kinds = [e.kind for e in step(r, at(35), views(ok))]
    assert kinds == ["rollout.wave_baked", "rollout.succeeded"] and r.state == "succeeded"
    assert all(site_version(r, s.name) == "to" for s in SITES)


def test_canary_failure_rolls_back_with_the_reason() -> None:
    r = canary()
    bad = {"sin-1": Observation("chat:2", ready=0, total=2, last_error="GET /healthz returned 500")}
    assert step(r, at(30), views(bad)) == [] and r.waves[0].state == "progressing"
    assert r.waves[0].reason == "sin-1: 0/2 replicas healthy (need 2): GET /healthz returned 500"
    events = step(r, at(60), views(bad))
    assert [e.kind for e in events] == ["rollout.wave_failed", "rollout.rolled_back"]
    assert r.state == "rolled_back" and r.waves[0].state == "rolled_back"
    assert r.reason == "sin-1: 0/2 replicas healthy after 60 s: GET /healthz returned 500"
    assert all(site_version(r, s.name) == "from" for s in SITES)
    assert step(r, at(999), views({s.name: healthy() for s in SITES})) == []  # terminal


def test_degraded_while_baking_fails_at_once() -> None:
    r = canary()
    step(r, at(1), views({"sin-1": healthy()}))
    assert r.waves[0].state == "baking"
    step(r, at(3), views({"sin-1": healthy(ready=1)}))
    assert r.state == "rolled_back" and "while baking" in (r.reason or "")


def test_without_auto_rollback_it_halts_and_resume_retries() -> None:
    r = canary(Policy(bake_s=0, health=HealthSpec(deadline_s=5), auto_rollback=False))
    step(r, at(6), views({}))
    assert (r.state, r.waves[0].state) == ("paused", "failed") and site_version(r, "sin-1") == "to"
    assert (r.reason or "").startswith("halted: sin-1: the agent reported nothing")
    kinds = [e.kind for e in resume(r, at(10), "tok_1 (operator)")]
    assert kinds == ["rollout.resumed", "rollout.wave_started"] and r.waves[0].started_at == at(10)
    step(r, at(11), views({"sin-1": healthy()}))
    step(r, at(12), views({"sin-1": healthy()}))
    assert r.waves[0].state == "succeeded" and r.waves[1].state == "progressing"


def test_pause_freezes_but_gates_still_judge() -> None:
    r = canary()
    pause(r, at(1), "op")
    ok = {s.name: healthy() for s in SITES}
    step(r, at(2), views(ok))
    step(r, at(50), views(ok))
    assert r.waves[0].state == "baking" and r.state == "paused"  # baked long enough, but frozen
    with pytest.raises(Refused, match="cannot pause the rollout of chat chat:1 -> chat:2: it is paused"):
        pause(r, at(51), "op")
    resume(r, at(52), "op")
    step(r, at(53), views(ok))
    assert r.waves[0].state == "succeeded" and r.waves[1].state == "progressing"
    pause(r, at(54), "op")
    step(r, at(60), views({"ams-1": Observation("chat:2", validation="failed")}))
    assert r.state == "rolled_back"


def test_promote_and_abort() -> None:
    r = canary()
    promote(r, at(1), "op")
    assert r.state == "succeeded" and all(w.state == "succeeded" for w in r.waves)
    with pytest.raises(Refused):
        abort(r, at(2), "op")
    r = canary()
    abort(r, at(1), "op")
    assert r.state == "aborted" and r.waves[0].state == "rolled_back" and r.waves[1].state == "pending"
    assert all(site_version(r, s.name) == "from" for s in SITES)
    with pytest.raises(Refused, match="it is aborted"):
        promote(r, at(2), "op")


def test_ungated_and_first_versions_are_done_at_once_and_documents_round_trip() -> None:
    r, events = start("chat", OLD, NEW, choose_waves([Wave(percent=100)], SITES), Policy(gated=False), T0)
    assert r.state == "succeeded" and [e.kind for e in events] == ["rollout.started", "rollout.succeeded"]
    first, _ = start("chat", None, NEW, choose_waves([Wave(percent=100)], SITES), Policy(), T0)
    assert first.state == "succeeded" and site_version(first, "x-1") == "to"
    r = canary()
    step(r, at(1), views({"sin-1": healthy()}))
    again = Rollout.from_document(r.to_document())
    assert again == r
    assert Version("m:1", ("python", "x"), (("A", "1"),)).change_from(Version("m:1")) == "command changed, env changed"
