"""Showback usage (issue 11): what each heartbeat books, split at UTC hours, capped, with
metered energy shared by GPU-seconds - the accounting function with explicit times (no
sleeping), then the upsert through `record_report` on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from fleetyard.services.db import Database, UsageHourRow, migrate
from fleetyard.services.status import _upsert, record_report
from fleetyard.services.usage import booked_seconds, hour_pieces, list_usage, usage_pieces
from fleetyard.services.wire import Replicas, SiteReport, Telemetry, WorkloadStatus
from fleetyard.spec.catalog import SERVER_POWER_FACTOR
from tests.server.conftest import BACKENDS, postgres

__all__ = ["postgres"]

T = datetime(2026, 12, 2, 10, 59, 50, tzinfo=UTC)
H10, H11 = datetime(2026, 12, 2, 10, tzinfo=UTC), datetime(2026, 12, 2, 11, tzinfo=UTC)


def report(*, power_w: float | None = None, **running: tuple[str | None, int | None, int]) -> SiteReport:
    """A heartbeat of fra-1: workload -> (SKU, GPUs per replica, replicas running)."""
    return SiteReport(site="fra-1", agent_version="test", revision=1, telemetry=Telemetry(gpu_power_w=power_w),
                      workloads=[WorkloadStatus(name=name, model="m:1", gpu_sku=sku, gpus_per_replica=gpus,
                                                replicas=Replicas(desired=n, running=n, healthy=n))
                                 for name, (sku, gpus, n) in running.items()])


def test_booked_seconds_count_from_the_previous_heartbeat_capped_at_three_intervals() -> None:
    assert booked_seconds(None, T, 5.0) == 0.0  # the first heartbeat: nothing to count from
    assert booked_seconds(T - timedelta(seconds=4), T, 5.0) == 4.0
    assert booked_seconds(T - timedelta(hours=1), T, 5.0) == 15.0  # an outage is not billed as running
    assert booked_seconds(T + timedelta(seconds=3), T, 5.0) == 0.0  # clocks out of order: nothing


def test_hour_pieces_split_at_utc_hours() -> None:
    assert list(hour_pieces(T, T + timedelta(seconds=15))) == [(H10, 10.0), (H11, 5.0)]
    assert list(hour_pieces(H10, H10 + timedelta(hours=2))) == [(H10, 3600.0), (H11, 3600.0)]
    assert list(hour_pieces(T, T)) == []


def test_a_heartbeat_books_replica_gpu_seconds_and_metered_energy_by_gpu_share() -> None:
    now = T + timedelta(seconds=15)  # 10 s in hour 10, 5 s in hour 11
    r = report(power_w=3600.0, train=("H100-SXM", 4, 2), embed=("L4", 1, 1), idle=("L4", 1, 0))
    pieces = usage_pieces(r, T, now, interval=5.0)
    got = {(p.workload, p.hour): (p.gpu_sku, p.replica_seconds, p.gpu_seconds, p.energy_kwh) for p in pieces}
    it_kw = 3.6 * SERVER_POWER_FACTOR  # 3.6 kW metered at the GPUs: the server's IT power
    kwh10, kwh11 = it_kw * 10 / 3600, it_kw * 5 / 3600  # over 10 s and 5 s
    assert got == {
        ("train", H10): ("H100-SXM", 20.0, 80.0, pytest.approx(kwh10 * 8 / 9)),
        ("embed", H10): ("L4", 10.0, 10.0, pytest.approx(kwh10 / 9)),
        ("train", H11): ("H100-SXM", 10.0, 40.0, pytest.approx(kwh11 * 8 / 9)),
        ("embed", H11): ("L4", 5.0, 5.0, pytest.approx(kwh11 / 9)),
    }
    assert sum(p.energy_kwh or 0 for p in pieces) == pytest.approx(it_kw * 15 / 3600)
    # Not metered: energy stays unknown (NULL), never a guess.
    assert {p.energy_kwh for p in usage_pieces(report(train=("H100-SXM", 4, 2)), T, now, 5.0)} == {None}
    # An older agent that does not say its SKU: the plan's, through the lookup.
    old = usage_pieces(report(train=(None, None, 2)), T, now, 5.0, lambda w: ("H200", 8) if w == "train" else None)
    assert {(p.gpu_sku, p.gpu_seconds) for p in old} == {("H200", 160.0), ("H200", 80.0)}
    assert usage_pieces(r, None, now, 5.0) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_record_report_upserts_usage_hours_in_its_transaction(
        backend: str, tmp_path: Path, new_database: Callable[[str], str | None]) -> None:
    db = Database(new_database(backend) or f"sqlite:///{tmp_path / 'u.db'}")
    migrate(db.engine)
    beats = [(T - timedelta(seconds=10), None), (T, None), (T + timedelta(seconds=5), 1800.0),
             (T + timedelta(seconds=15), None), (T + timedelta(hours=2), 900.0)]
    for at, power in beats:
        with db.session() as s:
            record_report(s, "fra-1", report(power_w=power, train=("H100-SXM", 4, 2)), now=at, interval=5.0)
            s.commit()
    with db.session() as s:
        rows = {r.hour: r for r in s.scalars(select(UsageHourRow).order_by(UsageHourRow.hour))}
        # hour 10: 10 s (first interval, capped) + 10 s = 20 s x 2 replicas; 5 s of them metered
        assert rows[H10].replica_seconds == pytest.approx(40.0) and rows[H10].gpu_seconds == pytest.approx(160.0)
        assert rows[H10].energy_kwh == pytest.approx(1.8 * SERVER_POWER_FACTOR * 5 / 3600)
        # hour 11: 5 s (unmetered), hour 12: the 2-hour silence books 15 s only
        assert rows[H11].replica_seconds == pytest.approx(10.0) and rows[H11].energy_kwh is None
        h12 = H11 + timedelta(hours=1)
        assert rows[h12].replica_seconds == pytest.approx(30.0)
        assert rows[h12].energy_kwh == pytest.approx(0.9 * SERVER_POWER_FACTOR * 15 / 3600)
        assert len(rows) == 3
        listed = list_usage(s, H10, H11 + timedelta(hours=2), limit=2)
        assert [(u.hour, u.workload, u.gpu_sku) for u in listed] == [(H10, "train", "H100-SXM"),
                                                                     (H11, "train", "H100-SXM")]
        assert [u.hour for u in list_usage(s, H10, h12 + timedelta(hours=1), offset=2)] == [h12]
    db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_heartbeat_replaces_only_the_row_it_counted_from(
        backend: str, tmp_path: Path, new_database: Callable[[str], str | None]) -> None:
    """The race of two heartbeats of one site: the upsert over a row that moved stores nothing
    (record_report then reads again and books from the newer one)."""
    db = Database(new_database(backend) or f"sqlite:///{tmp_path / 'r.db'}")
    migrate(db.engine)
    with db.session() as s:
        record_report(s, "fra-1", report(train=("L4", 1, 1)), now=T, interval=5.0)
        s.commit()
    values = {"site": "fra-1", "received_at": T + timedelta(seconds=5), "report": {}, "revision": 1,
              "peer_url": None, "agent_version": "v", "first_seen": T}
    with db.session() as s:
        conn = s.connection()
        stale = conn.execute(_upsert(conn.dialect.name), {**values, "previous": T - timedelta(seconds=5)}).first()
        fresh = conn.execute(_upsert(conn.dialect.name), {**values, "previous": T}).first()
        s.commit()
    assert stale is None and fresh is not None
    db.dispose()
