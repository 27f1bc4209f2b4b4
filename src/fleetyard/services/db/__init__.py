"""The control plane's database: tables (SQLAlchemy 2), engines, Alembic migrations.

SQLite (a file, the embedded default) or PostgreSQL (`postgresql+psycopg://`). The
migrations ship inside the package (`migrations/`), so an installed wheel upgrades
an empty or older database with `migrate(engine)` at server start.
"""

from __future__ import annotations

from fleetyard.services.db.engine import (
    Database,
    DatabaseError,
    DatabaseUrlError,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    safe_url,
)
from fleetyard.services.db.tables import (
    AuditRow,
    Base,
    EventRow,
    FleetStateRow,
    PlanRevisionRow,
    ResourceRow,
    RolloutRow,
    ScheduleRow,
    SiteAvailabilityRow,
    SiteReportRow,
    TokenRow,
    TraceRow,
    UsageHourRow,
)

__all__ = [
    "AuditRow",
    "Base",
    "Database",
    "DatabaseError",
    "DatabaseUrlError",
    "EventRow",
    "FleetStateRow",
    "PlanRevisionRow",
    "ResourceRow",
    "RolloutRow",
    "ScheduleRow",
    "SiteAvailabilityRow",
    "SiteReportRow",
    "TokenRow",
    "TraceRow",
    "UsageHourRow",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
    "safe_url",
]
