"""The failover job against a real database, with a clock the test drives: down, re-plan, back after the hold-off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetyard.registry import open_store
from fleetyard.services.apply import FleetService
from fleetyard.services.db import Database, migrate
from fleetyard.services.events import list_events
from fleetyard.services.failover import FAILOVER_ACTOR, FailoverJob, FailoverSettings
from fleetyard.services.planning import PlanSettings, current_plan, current_revision, parse_plan
from fleetyard.services.status import fleet_status, record_report
from fleetyard.services.wire import ApplyRequest, Replicas, SiteReport, SpecFile, WorkloadStatus
from tests.failover.fleetyaml import SITES, fleet_yaml

T0 = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
SETTINGS = FailoverSettings(grace=10, hold_off=60, heartbeat_interval=1, tick_interval=1)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Database, FleetService]]:
    db = Database(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(db.engine)
    fleet = FleetService(db, open_store(tmp_path / "registry", create=True),
                         PlanSettings(time_limit=20, resilience=False))
    fleet.apply(ApplyRequest(files=[SpecFile(name="fleet.yaml", content=fleet_yaml())]), FAILOVER_ACTOR)
    yield db, fleet
    db.dispose()


def placed(db: Database) -> dict[str, int]:
    with db.session() as s:
        row = current_plan(s)
        assert row is not None
        out: dict[str, int] = {}
        for a in parse_plan(row.plan).assignments:
            out[a.site] = out.get(a.site, 0) + a.replicas
        return out


def beat(db: Database, sites: list[str], at: datetime, revision: int = 1) -> None:
    with db.session() as s:
        for site in sites:
            record_report(s, site, SiteReport(site=site, agent_version="test", revision=revision, workloads=[
                WorkloadStatus(name="chat", model="chat-llm:1", replicas=Replicas(desired=1, running=1, healthy=1))]),
                now=at)
        s.commit()


def test_a_silent_site_fails_over_within_policy_and_comes_back_after_the_hold_off(
        service: tuple[Database, FleetService]) -> None:
    db, fleet = service
    job = FailoverJob(db, fleet, SETTINGS, started=T0)
    before = placed(db)
    assert sum(before.values()) == 2 and "nyc-1" not in before
    victim = max(before, key=lambda s: before[s])
    alive = [s for s in SITES if s != victim]
    t = T0
    for _ in range(5):  # everyone heartbeats
        beat(db, list(SITES), t)
        job(t)
        t += timedelta(seconds=1)
    assert current_revision_of(db) == 1
    for _ in range(12):  # the victim goes silent: unavailable after the 10 s grace
        beat(db, alive, t)
        job(t)
        t += timedelta(seconds=1)
    with db.session() as s:
        st = {x.site: x for x in fleet_status(s, 1.0, now=t).sites}
        kinds = [e.kind for e in list_events(s)]
    assert not st[victim].available and "no heartbeat for 11 s (grace 10 s)" in (st[victim].unavailable_reason or "")
    assert st[victim].unavailable_since is not None and all(st[x].available for x in alive)
    assert kinds == ["site.down", "plan.replanned"]
    after = placed(db)
    assert victim not in after and sum(after.values()) == 2 and "nyc-1" not in after  # residency holds
    assert current_revision_of(db) == 2
    # back, but work stays out during the hold-off; a miss restarts it
    for i in range(40):
        beat(db, list(SITES) if i != 20 else alive, t)
        if i == 20:
            t += timedelta(seconds=4)  # a 4 s gap: more than 3 heartbeat intervals, a miss
        job(t)
        t += timedelta(seconds=1)
    assert current_revision_of(db) == 2 and victim not in placed(db)
    with db.session() as s:
        assert not {x.site: x for x in fleet_status(s, 1.0, now=t).sites}[victim].available
    for _ in range(70):
        beat(db, list(SITES), t)
        job(t)
        t += timedelta(seconds=1)
    with db.session() as s:
        events = list_events(s)
        st = {x.site: x for x in fleet_status(s, 1.0, now=t).sites}
    kinds = [e.kind for e in events]
    assert kinds.count("site.down") == 1 and kinds.count("site.up") == 1 and kinds[-2:] == ["site.up", "plan.replanned"]
    up = next(e for e in events if e.kind == "site.up")
    returning = [e for e in events if e.kind == "site.returning"]
    assert (up.at - returning[-1].at).total_seconds() >= 60  # the hold-off from the last return
    assert st[victim].available and current_revision_of(db) == 3
    replanned = events[-1]
    assert replanned.data is not None and replanned.data["back"] == [victim]


def test_an_apply_while_a_site_is_down_keeps_it_down(service: tuple[Database, FleetService]) -> None:
    db, fleet = service
    job = FailoverJob(db, fleet, SETTINGS, started=T0)
    victim = max(placed(db), key=lambda s: placed(db)[s])
    beat(db, list(SITES), T0)
    job(T0)
    t = T0 + timedelta(seconds=15)
    beat(db, [s for s in SITES if s != victim], t)
    job(t)
    assert victim not in placed(db)
    fleet.apply(ApplyRequest(files=[SpecFile(name="fleet.yaml", content=fleet_yaml("chat-llm:2"))]), FAILOVER_ACTOR)
    assert current_revision_of(db) == 3 and victim not in placed(db) and sum(placed(db).values()) == 2


def test_two_servers_on_one_database_act_once(service: tuple[Database, FleetService], tmp_path: Path) -> None:
    db, fleet = service
    other = FleetService(db, fleet.store, fleet.settings)
    jobs = [FailoverJob(db, fleet, SETTINGS, started=T0), FailoverJob(db, other, SETTINGS, started=T0)]
    beat(db, list(SITES), T0)
    for j in jobs:
        j(T0)
    victim = max(placed(db), key=lambda s: placed(db)[s])
    t = T0 + timedelta(seconds=15)
    beat(db, [s for s in SITES if s != victim], t)
    for j in jobs:
        j.look(t)  # both look before either re-plans
    for j in jobs:
        j(t)
    with db.session() as s:
        kinds = [e.kind for e in list_events(s)]
    assert kinds == ["site.down", "plan.replanned"] and current_revision_of(db) == 2


def current_revision_of(db: Database) -> int:
    with db.session() as s:
        return current_revision(s)


def test_status_flags_drift_only_after_the_threshold(service: tuple[Database, FleetService]) -> None:
    db, fleet = service
    job = FailoverJob(db, fleet, SETTINGS, started=T0)
    site = max(placed(db), key=lambda s: placed(db)[s])
    wanted = placed(db)[site]

    def report(model: str, running: int, at: datetime) -> None:
        with db.session() as s:
            record_report(s, site, SiteReport(site=site, agent_version="test", revision=1, workloads=[
                WorkloadStatus(name="chat", model=model, replicas=Replicas(desired=wanted, running=running,
                                                                          healthy=running))]), now=at)
            s.commit()

    def drift(at: datetime) -> str | None:
        with db.session() as s:
            return {x.site: x for x in fleet_status(s, 1.0, now=at, drift_after=300).sites}[site].drift

    t = T0
    for _ in range(3):
        report("chat-llm:0", wanted, t)
        job(t)
        t += timedelta(seconds=100)
    assert drift(t - timedelta(seconds=100)) is None  # 200 s: not yet
    report("chat-llm:0", wanted, t)
    job(t)
    assert drift(t) == "runs chat-llm:0, desired chat-llm:1 for 5 min"
    report("chat-llm:1", wanted - 1, t + timedelta(seconds=1))  # still different: the drift goes on
    job(t + timedelta(seconds=1))
    assert drift(t + timedelta(seconds=1)) == f"{wanted - 1}/{wanted} replicas of chat running for 5 min"
    report("chat-llm:1", wanted, t + timedelta(seconds=2))
    job(t + timedelta(seconds=2))
    assert drift(t + timedelta(seconds=2)) is None


def test_failover_off_keeps_every_site_available_and_plans_with_all(service: tuple[Database, FleetService]) -> None:
    db, fleet = service
    victim = max(placed(db), key=lambda s: placed(db)[s])
    beat(db, list(SITES), T0)
    FailoverJob(db, fleet, SETTINGS, started=T0)(T0)
    t = T0 + timedelta(seconds=15)
    beat(db, [s for s in SITES if s != victim], t)
    FailoverJob(db, fleet, SETTINGS, started=T0)(t)
    assert victim not in placed(db)
    fleet.failover = False  # FLEETYARD_FAILOVER=false
    off = FailoverJob(db, fleet, replace(SETTINGS, enabled=False), started=T0)
    off(t + timedelta(seconds=60))
    with db.session() as s:
        assert all(x.available for x in fleet_status(s, 1.0, now=t).sites)
    fleet.apply(ApplyRequest(files=[SpecFile(name="fleet.yaml", content=fleet_yaml())]), FAILOVER_ACTOR)
    assert current_revision_of(db) == 3  # the apply re-planned with every site again


@pytest.mark.parametrize(("env", "words"), [
    ({"FLEETYARD_FAILOVER_GRACE": "0"}, "failover-grace: Input should be greater than 0"),
    ({"FLEETYARD_FAILOVER_HOLD_OFF": "1e9"}, "failover-hold-off: Input should be less than or equal to 86400"),
    ({"FLEETYARD_EVENT_WEBHOOK": "ftp://x"}, "event-webhook: expected an http:// or https:// URL"),
])
def test_bad_settings_are_one_line_and_exit_2(env: dict[str, str], words: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "fleetyard", "server", "--data", str(tmp_path), "--listen",
                        "127.0.0.1:0"], capture_output=True, text=True, timeout=60, check=False,
                       env={**os.environ, **env})
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


def test_work_moves_back_after_the_hold_off_when_the_spread_needs_the_site(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    migrate(db.engine)
    fleet = FleetService(db, open_store(tmp_path / "registry", create=True),
                         PlanSettings(time_limit=20, resilience=False))
    try:
        fleet.apply(ApplyRequest(files=[SpecFile(name="fleet.yaml", content=fleet_yaml(replicas=3, spread=3))]),
                    FAILOVER_ACTOR)
        assert placed(db) == {"fra-1": 1, "fra-2": 1, "par-1": 1}  # one replica on each EU site
        job = FailoverJob(db, fleet, SETTINGS, started=T0)
        t = T0
        for i in range(15):
            beat(db, [s for s in SITES if s != "fra-1" or i == 0], t)
            job(t)
            t += timedelta(seconds=1)
        assert "fra-1" not in placed(db) and sum(placed(db).values()) == 3 and "nyc-1" not in placed(db)
        with db.session() as s:
            replanned = list_events(s, kind="plan.replanned")[-1]
        assert "fra-1 down" in replanned.message
        assert "spread: placed on 2 of 3 required sites" in replanned.message  # what cannot move, in words
        for _ in range(50):
            beat(db, list(SITES), t)
            job(t)
            t += timedelta(seconds=1)
            if t - T0 < timedelta(seconds=15 + 55):  # within the hold-off (60 s from the first heartbeat back)
                assert "fra-1" not in placed(db)
        for _ in range(20):
            beat(db, list(SITES), t)
            job(t)
            t += timedelta(seconds=1)
        assert placed(db) == {"fra-1": 1, "fra-2": 1, "par-1": 1}  # back on fra-1: the spread needs it
    finally:
        db.dispose()
