"""Migrations shipped in the package: an empty database is upgraded at start, on both databases."""

from __future__ import annotations

import stat
from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from fleetyard.services.db import Base, Database, FleetStateRow, TokenRow, head_revision, migrate
from tests.server.conftest import BACKENDS, ServerProcess

TABLES = {"resources", "fleet_state", "plan_revisions", "site_reports", "tokens", "audit_log", "rollouts", "events",
          "site_availability", "traces", "schedules", "usage_hours", "web_sessions", "telemetry_layouts", "telemetry",
          "telemetry_pending",
          "alembic_version"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_server_upgrades_an_empty_database(backend: str, new_database: Callable[[str], str | None],
                                          server_factory: Callable[..., ServerProcess]) -> None:
    url = new_database(backend)
    server = server_factory(url)
    log = server.log.read_text()
    assert "migrated from empty" in log and "first admin token (shown once" in log
    token_file = server.data / "admin.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    db = Database(url or f"sqlite:///{server.data / 'fleetyard.db'}")
    try:
        assert set(inspect(db.engine).get_table_names()) == TABLES
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        with db.session() as s:
            assert s.get(FleetStateRow, 1).revision == 0  # type: ignore[union-attr]
            assert s.scalar(select(func.count()).select_from(TokenRow)) == 1
    finally:
        db.dispose()
    first = token_file.read_text()
    server.stop()
    server.start()  # an up-to-date database: no migration, no second admin token
    log = server.log.read_text()
    assert "up to date" in log and "first admin token" not in log
    assert token_file.read_text() == first
    with server.client(first.strip()) as api:
        assert api.status().revision == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_build_exactly_the_models(backend: str, new_database: Callable[[str], str | None],
                                             tmp_path: object) -> None:
    url = new_database(backend) or f"sqlite:///{tmp_path}/m.db"
    db = Database(url)
    try:
        assert migrate(db.engine) == (None, head_revision())
        assert migrate(db.engine) == (head_revision(), head_revision())
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
    finally:
        db.dispose()
