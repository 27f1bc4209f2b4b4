"""A decision read before another server's write is not stored: the conditional write of a site's row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetyard.rollout.availability import Availability
from fleetyard.services.availability import SiteRecord, read_records, write_record
from fleetyard.services.db import Database, migrate
from tests.server.conftest import BACKENDS

T0 = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_second_writer_of_a_decision_loses(backend: str, new_database: Callable[[str], str | None],
                                               tmp_path: Path) -> None:
    db = Database(new_database(backend) or f"sqlite:///{tmp_path / 'c.db'}")
    migrate(db.engine)
    try:
        with db.session() as s:
            assert write_record(s, SiteRecord("fra-1", Availability("available", T0)), T0)
            s.commit()
        down = Availability("unavailable", T0 + timedelta(seconds=31), "no heartbeat for 31 s (grace 30 s)",
                            down_since=T0 + timedelta(seconds=31))
        with db.session() as a, db.session() as b:
            ra, rb = read_records(a)["fra-1"], read_records(b)["fra-1"]
            a.commit()
            b.commit()
            assert write_record(a, SiteRecord("fra-1", down, None, ra.updated_at), T0 + timedelta(seconds=31))
            a.commit()
            assert not write_record(b, SiteRecord("fra-1", down, None, rb.updated_at), T0 + timedelta(seconds=32))
            b.commit()
        with db.session() as s:
            again = read_records(s)["fra-1"]
            assert again.availability == down and again.updated_at == T0 + timedelta(seconds=31)
            # a new row: the second insert loses too
            assert write_record(s, SiteRecord("par-1", Availability("available", T0)), T0)
            s.commit()
            assert not write_record(s, SiteRecord("par-1", Availability("available", T0)), T0)
            s.commit()
    finally:
        db.dispose()
