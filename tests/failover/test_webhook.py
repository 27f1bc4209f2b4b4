"""The webhook job against a real local HTTP receiver: in id order, retried with backoff, at least once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fleetyard.services.db import Database, EventRow, migrate
from fleetyard.services.events import record_event
from fleetyard.services.webhook import WebhookJob
from tests.failover.helpers import Receiver

T0 = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)


def _events(db: Database, n: int) -> None:
    with db.session() as s:
        for i in range(n):
            record_event(s, "site.down", f"s{i}", f"s{i} is unavailable", data={"i": i}, at=T0)
        s.commit()


def _undelivered(db: Database) -> int:
    with db.session() as s:
        return sum(1 for r in s.query(EventRow).all() if r.delivered_at is None)


def test_events_are_posted_in_order_and_retried_with_backoff(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(db.engine)
    receiver = Receiver()
    job = WebhookJob(db, receiver.url, batch=3)
    try:
        _events(db, 5)
        receiver.fail_first = 2
        job(T0)  # the receiver answers 503: nothing marked, retry in 1 s
        assert receiver.bodies == [] and _undelivered(db) == 5 and job.retry_at == T0 + timedelta(seconds=1)
        job(T0 + timedelta(seconds=0.5))  # before the backoff: no POST
        assert receiver.fail_first == 1
        job(T0 + timedelta(seconds=1))  # fails again: the backoff doubles
        assert job.retry_at == T0 + timedelta(seconds=3) and _undelivered(db) == 5
        job(T0 + timedelta(seconds=3))  # delivers a batch of 3
        assert [b["subject"] for b in receiver.bodies] == ["s0", "s1", "s2"] and _undelivered(db) == 2
        job(T0 + timedelta(seconds=4))
        assert [b["subject"] for b in receiver.bodies] == ["s0", "s1", "s2", "s3", "s4"] and _undelivered(db) == 0
        body = receiver.bodies[0]
        assert body["text"] == "[site.down] s0: s0 is unavailable" and body["kind"] == "site.down"
        assert body["data"] == {"i": 0} and body["at"].startswith("2026-12-02T10:00:00")
        receiver.close()  # nobody listening: a connection error is a failure too
        _events(db, 1)
        job(T0 + timedelta(seconds=5))
        assert _undelivered(db) == 1 and job.failures == 1 and job.last_error is not None
    finally:
        job.close()
        db.dispose()


def test_without_a_webhook_events_are_passed_by(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(db.engine)
    try:
        _events(db, 3)
        WebhookJob(db, None)(T0)
        assert _undelivered(db) == 0
    finally:
        db.dispose()
