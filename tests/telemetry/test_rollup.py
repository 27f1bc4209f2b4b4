"""Ingestion, rollups and retention against a real database, SQLite and PostgreSQL.

The rollups are checked against the raw data recomputed by hand (helpers.expected_rollup),
after samples arrive in order, out of order, twice, and an hour late.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fleetyard.services.db import Database
from fleetyard.services.db.tables import TelemetryPendingRow, TelemetryRow
from fleetyard.services.telemetry import store
from fleetyard.services.telemetry.retention import Retention, RetentionJob
from fleetyard.services.telemetry.rollup import RollupJob, take
from fleetyard.services.telemetry.store import bucket
from fleetyard.services.wire_telemetry import Sample
from tests.server.conftest import BACKENDS
from tests.telemetry.helpers import T0, database, expected_rollup, rows, sample, samples

COUNTERS = {"fetched_bytes"}


def drain(job: RollupJob, now: datetime, calls: int = 1_000) -> None:
    """Run `job` until it has nothing left to roll up - in at most `calls` calls, so a job
    that never finishes fails here instead of hanging the test."""
    for _ in range(calls):
        if not job.run(now):
            return
    raise AssertionError(f"the rollup still had work after {calls} calls")


def _ingest(db: Database, site: str, batch: list[Sample]) -> None:
    with db.session() as s:
        store.ingest(s, site, batch, now=T0 + timedelta(days=1))
        s.commit()


def _check_rollups(db: Database, site: str) -> int:
    """Every minute row equals its raw samples, every hour row its minute rows; the number of buckets."""
    checked = 0
    for resolution, source in ((60, 0), (3600, 60)):
        inputs = rows(db, site, source)
        for t, count, values, estimated in rows(db, site, resolution):
            inside = [r for r in inputs if t <= r[0] < t + timedelta(seconds=resolution)]
            want_count, want = expected_rollup(inside, COUNTERS)
            assert count == want_count, (resolution, t)
            assert values.keys() == want.keys()
            for k, v in want.items():
                assert values[k] == pytest.approx(v, rel=1e-6), (resolution, t, k)
            assert estimated == set().union(*(r[3] for r in inside))
            checked += 1
        starts = {bucket(r[0], resolution) for r in inputs}
        assert starts == {r[0] for r in rows(db, site, resolution)}  # no bucket missing, none extra
    return checked


@pytest.mark.parametrize("backend", BACKENDS)
def test_rollups_equal_the_raw_data_however_it_arrives(backend: str, new_database: Callable[[str], str | None],
                                                      tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        batch = samples(T0, 12 * 120)  # two hours of 5 s samples
        shuffled = batch[:]
        random.Random(7).shuffle(shuffled)
        for k in range(0, len(shuffled), 50):  # out of order, in batches
            _ingest(db, "fra-1", shuffled[k:k + 50])
        _ingest(db, "fra-1", batch[:120])  # a batch resent: stored once
        assert len(rows(db, "fra-1", 0)) == len(batch)
        job = RollupJob(db)
        assert job.run(T0 + timedelta(hours=3)) == 120 + 2  # 120 minutes, then 2 hours
        assert _check_rollups(db, "fra-1") == 122
        hour = rows(db, "fra-1", 3600)[0]
        assert hour[1] == 720 and hour[2]["fetched_bytes/peer"] == 1000.0 * 719  # counter: last value
        assert job.run(T0 + timedelta(hours=3)) == 0  # nothing pending


@pytest.mark.parametrize("backend", BACKENDS)
def test_late_samples_re_roll_the_buckets_they_touch(backend: str, new_database: Callable[[str], str | None],
                                                    tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        full = samples(T0, 12 * 120)  # two hours
        gap = set(range(12 * 30, 12 * 90))  # the agent was offline for an hour in the middle
        _ingest(db, "fra-1", [s for i, s in enumerate(full) if i not in gap])
        _ingest(db, "par-1", samples(T0, 12 * 120, first=5))
        job = RollupJob(db)
        job.run(T0 + timedelta(hours=3))
        before = {r[0]: r for r in rows(db, "fra-1", 3600)}
        assert before[T0][1] == 12 * 30 and before[T0 + timedelta(hours=1)][1] == 12 * 30
        late = [s for i, s in enumerate(full) if i in gap]
        for k in range(0, len(late), 120):  # then sends its buffer, oldest first, 120 per report
            _ingest(db, "fra-1", late[k:k + 120])
        drain(job, T0 + timedelta(hours=3))
        assert [r[1] for r in rows(db, "fra-1", 3600)] == [720, 720]  # no gaps, no double counts
        assert _check_rollups(db, "fra-1") == 122
        assert _check_rollups(db, "par-1") == 122


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_layouts_and_estimates_roll_up(backend: str, new_database: Callable[[str], str | None],
                                            tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        batch = [sample(T0 + timedelta(seconds=5 * i), i, workloads=("chat-eu",) if i < 6 else ("chat-eu", "embed"),
                        estimated=i % 2 == 0) for i in range(12)]
        _ingest(db, "fra-1", batch)
        RollupJob(db).run(T0 + timedelta(hours=2))
        _check_rollups(db, "fra-1")
        minute = rows(db, "fra-1", 60)[0]
        assert "replicas_running/embed" in minute[2] and minute[3] == {"gpu_power_w"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_rollup_waits_for_a_bucket_to_close_and_is_bounded(backend: str, new_database: Callable[[str], str | None],
                                                          tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        _ingest(db, "fra-1", samples(T0, 12 * 10))  # ten minutes
        job = RollupJob(db, budget=4)
        assert job.run(T0 + timedelta(seconds=65)) == 0  # the first minute is not closed yet (grace)
        assert job.run(T0 + timedelta(seconds=75)) == 1
        assert job.run(T0 + timedelta(hours=2)) == 4  # a backlog drains a bounded number per call
        assert len(rows(db, "fra-1", 60)) == 5
        drain(job, T0 + timedelta(hours=2))
        assert len(rows(db, "fra-1", 60)) == 10 and len(rows(db, "fra-1", 3600)) == 1


def _count(db: Database, resolution: int) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(TelemetryRow)
                            .where(TelemetryRow.resolution == resolution)) or 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_retention_deletes_only_rolled_up_rows(backend: str, new_database: Callable[[str], str | None],
                                              tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        _ingest(db, "fra-1", samples(T0, 12 * 120))  # two hours of raw
        retention = Retention(raw=timedelta(minutes=30), minute=timedelta(hours=1), hour=timedelta(days=1))
        later = T0 + timedelta(hours=4)
        assert RetentionJob(db, retention, every=0).run(later) == 0  # nothing rolled up: nothing goes
        assert _count(db, 0) == 1440
        rollup = RollupJob(db, budget=30)
        rollup.run(later)  # the first 30 minutes only
        RetentionJob(db, retention, every=0).run(later)
        assert _count(db, 0) == 1440 - 30 * 12  # raw of rolled-up minutes went, the rest stays
        assert _count(db, 60) == 30  # their hour is pending: minutes stay
        drain(rollup, later)
        RetentionJob(db, retention, every=0).run(later)
        assert (_count(db, 0), _count(db, 60), _count(db, 3600)) == (0, 0, 2)
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(TelemetryPendingRow)) == 0
        RetentionJob(db, retention, every=0).run(T0 + timedelta(days=2))
        assert _count(db, 3600) == 0  # hours go at their retention


@pytest.mark.parametrize("backend", BACKENDS)
def test_retention_runs_every_interval_with_a_budget(backend: str, new_database: Callable[[str], str | None],
                                                    tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        _ingest(db, "fra-1", samples(T0, 12 * 10))
        rollup = RollupJob(db)
        drain(rollup, T0 + timedelta(hours=2))
        job = RetentionJob(db, Retention(raw=timedelta(minutes=10)), every=60, budget=50)
        at = T0 + timedelta(hours=2)
        assert job.run(at) == 50
        assert job.run(at + timedelta(seconds=30)) == 0  # not due yet
        assert job.run(at + timedelta(seconds=60)) == 50
        assert _count(db, 0) == 20


@pytest.mark.parametrize("backend", BACKENDS)
def test_samples_far_in_the_future_are_refused(backend: str, new_database: Callable[[str], str | None],
                                              tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        with db.session() as s:
            got = store.ingest(s, "fra-1", [sample(T0, 0), sample(T0 + timedelta(minutes=4), 1),
                                            sample(T0 + timedelta(minutes=6), 2)], now=T0)
            s.commit()
        assert (got.accepted, got.refused) == (2, 1)
        assert [r[0] for r in rows(db, "fra-1", 0)] == [T0, T0 + timedelta(minutes=4)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bucket_marked_while_it_is_computed_stays_pending(backend: str, new_database: Callable[[str], str | None],
                                                           tmp_path: Path) -> None:
    with database(backend, new_database, tmp_path) as db:
        _ingest(db, "fra-1", samples(T0, 6))
        with db.session() as s:
            [(mark,)] = s.execute(select(TelemetryPendingRow.mark)).all()
        _ingest(db, "fra-1", samples(T0 + timedelta(seconds=30), 6, first=6))  # the rest of the minute lands
        with db.session() as s:
            assert not take(s, "fra-1", 60, T0, mark)  # read before the late samples: not claimed
            assert take(s, "fra-1", 60, T0, mark + 1)
            s.rollback()
        RollupJob(db).run(T0 + timedelta(hours=2))
        assert rows(db, "fra-1", 60)[0][1] == 12
