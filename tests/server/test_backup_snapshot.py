"""`backup_rows.snapshot` reads every table in one transaction: writes committed while it
reads are not in it, on SQLite and PostgreSQL. And a row survives encode → decode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from fleetyard.services.backup_rows import TABLES, decode_row, encode_row, snapshot
from fleetyard.services.db import AuditRow, ResourceRow, TokenRow, make_engine, migrate
from tests.server.conftest import BACKENDS

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_during_the_snapshot_are_not_in_it(backend: str, new_database: Callable[[str], str | None],
                                                  tmp_path: Path) -> None:
    engine = make_engine(new_database(backend) or f"sqlite:///{tmp_path / 'f.db'}")
    try:
        migrate(engine)
        seen: dict[str, int] = {}
        for i, (table, rows) in enumerate(snapshot(engine)):
            seen[table.name] = len(list(rows))
            if i == 0:  # another connection writes to every table after the first one was read
                with engine.begin() as conn:
                    conn.execute(insert(AuditRow), [{"at": NOW, "actor": "t", "action": "x", "target": "y"}])
                    conn.execute(insert(ResourceRow), [{"kind": "Region", "name": "r", "document": {},
                                                        "source": "s", "created_at": NOW, "updated_at": NOW}])
                    conn.execute(insert(TokenRow), [{"id": "tok_1", "token_hash": "h", "role": "admin",
                                                     "description": "", "created_by": "t", "created_at": NOW}])
        assert seen == {t.name: 1 if t.name == "fleet_state" else 0 for t in TABLES}
        assert {t.name: len(list(rows)) for t, rows in snapshot(engine)}["tokens"] == 1  # a new one sees them
    finally:
        engine.dispose()


def test_a_row_survives_encode_and_decode() -> None:
    table = AuditRow.__table__
    row = {"id": 7, "at": NOW, "actor": "alice", "action": "apply", "target": "site/é",
           "before": None, "after": {"a": [1, 2.5, "x"]}}
    assert decode_row(table, encode_row(table, row), "w") == row  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="column at: expected an ISO 8601 time"):
        decode_row(table, b'{"at": "yesterday"}', "w")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'nope' is not in table audit_log"):
        decode_row(table, b'{"nope": 1}', "w")  # type: ignore[arg-type]
