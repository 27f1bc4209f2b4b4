"""Events are stored with the change they describe and listed in id order; background jobs survive a failing job."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fleetyard.server.background import Background
from fleetyard.services.db import Database, migrate
from fleetyard.services.events import list_events, record_event


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'e.db'}")
    migrate(db.engine)
    return db


def test_events_commit_with_their_change_and_list_in_order(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        with db.session() as s:
            record_event(s, "site.down", "par-1", "par-1 missed heartbeats for 30 s")
            s.rollback()  # an event of a change that did not happen is not kept
        with db.session() as s:
            for i in range(5):
                record_event(s, "rollout.wave_started" if i % 2 else "site.up", f"s{i}", f"message {i}",
                             data={"i": i}, at=datetime(2026, 12, 2, 0, 0, i, tzinfo=UTC))
            s.commit()
        with db.session() as s:
            everything = list_events(s)
            assert [e.subject for e in everything] == ["s0", "s1", "s2", "s3", "s4"]
            assert [e.subject for e in list_events(s, limit=2)] == ["s3", "s4"]  # the newest, oldest first
            first = everything[0].id
            assert [e.subject for e in list_events(s, after=first, limit=2)] == ["s1", "s2"]
            assert [e.subject for e in list_events(s, kind="rollout.")] == ["s1", "s3"]
            assert [e.data for e in list_events(s, subject="s4")] == [{"i": 4}]
    finally:
        db.dispose()


def test_a_failing_job_does_not_stop_the_others() -> None:
    seen: list[str] = []

    def broken(_now: datetime) -> None:
        raise RuntimeError("bug")

    bg = Background([("broken", broken), ("fine", lambda now: seen.append(now.isoformat()))], interval=1.0)
    at = datetime(2026, 12, 2, tzinfo=UTC)
    bg.run_once(at)
    bg.run_once(at)
    assert seen == [at.isoformat()] * 2 and bg.ticks == 2
