"""The tables: resources, the fleet's revision, plan revisions, site reports, tokens, audit,
rollouts, events, site availability, (issue 11) traces, schedules and hourly usage, and
(issue 12) dashboard sessions and the telemetry history.

Times are timezone-aware UTC on both databases (`UtcDateTime`); documents are JSON
(JSONB on PostgreSQL). Every schema change is an Alembic migration in `migrations/`;
a test checks that the migrations produce exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDoc = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC timestamp: aware datetimes in, aware UTC datetimes out (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: expected a timezone-aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JsonDoc}


class ResourceRow(Base):
    """One applied resource (kind + name), the document as applied and its file."""

    __tablename__ = "resources"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(63))
    document: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FleetStateRow(Base):
    """The single row (id 1) holding the current plan revision; every change bumps it
    with a conditional UPDATE, which serializes applies across server processes."""

    __tablename__ = "fleet_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class PlanRevisionRow(Base):
    """The plan made at one revision, and how model references were resolved then."""

    __tablename__ = "plan_revisions"

    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))
    plan: Mapped[dict[str, Any]]
    models: Mapped[dict[str, Any]]
    cost_per_hour: Mapped[float]


class SiteReportRow(Base):
    """The last heartbeat of each site (the agent's whole `SiteReport`)."""

    __tablename__ = "site_reports"

    site: Mapped[str] = mapped_column(String(63), primary_key=True)
    received_at: Mapped[datetime]
    report: Mapped[dict[str, Any]]
    revision: Mapped[int | None] = mapped_column(Integer)
    peer_url: Mapped[str | None] = mapped_column(String(512))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    heartbeats: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime]


class TokenRow(Base):
    """A bearer token: only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    site: Mapped[str | None] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditRow(Base):
    """One change: who, what, when, the target, and its state before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(512))
    before: Mapped[Any | None] = mapped_column(JsonDoc)
    after: Mapped[Any | None] = mapped_column(JsonDoc)


class RolloutRow(Base):
    """One rollout of a workload from a version to another; the state machine's snapshot
    lives in `document` (waves, their states and reasons), so a restarted server resumes it."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workload: Mapped[str] = mapped_column(String(63), index=True)
    state: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EventRow(Base):
    """Something the system did and why (site down/up, re-plan, wave, rollback, flag change).
    `delivered_at` is the webhook outbox: unset until the event was POSTed (or there is no webhook)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[Any | None] = mapped_column(JsonDoc)
    delivered_at: Mapped[datetime | None]


class SiteAvailabilityRow(Base):
    """The failover view of one site: available or not, since when and why; `document`
    holds the decision's own state (e.g. when it came back, for the hold-off)."""

    __tablename__ = "site_availability"

    site: Mapped[str] = mapped_column(String(63), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    document: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class TraceRow(Base):
    """An uploaded energy trace (issue 11), keyed by its path as the loader resolves it
    (`spec.loader.trace_path(spec file, reference)`), with its CSV text."""

    __tablename__ = "traces"

    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class ScheduleRow(Base):
    """The schedule of the deferrable work (issue 11) made with plan revision `revision`."""

    __tablename__ = "schedules"

    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class UsageHourRow(Base):
    """What ran (issue 11, showback): per site, workload, SKU and UTC hour, the replica-seconds
    and GPU-seconds the site reported running, and the energy where it reports it."""

    __tablename__ = "usage_hours"

    site: Mapped[str] = mapped_column(String(63), primary_key=True)
    workload: Mapped[str] = mapped_column(String(63), primary_key=True)
    gpu_sku: Mapped[str] = mapped_column(String(63), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    replica_seconds: Mapped[float]
    gpu_seconds: Mapped[float]
    energy_kwh: Mapped[float | None]


class WebSessionRow(Base):
    """A dashboard session (issue 12): made by logging in with a token, dies with it.

    The cookie holds a random secret; only its SHA-256 is stored (`id`). `csrf` is the
    session's anti-forgery token, sent back by the page on every write."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class TelemetryLayoutRow(Base):
    """The series keys of a packed telemetry row, in order, and which of them are estimates.

    Many rows share one layout (a site's keys change only when its workloads do);
    `digest` (SHA-256 of site, keys and estimated) finds an existing one."""

    __tablename__ = "telemetry_layouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(63))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    keys: Mapped[list[str]] = mapped_column(JsonDoc)
    estimated: Mapped[list[str]] = mapped_column(JsonDoc)


class TelemetryRow(Base):
    """One site at one moment (`resolution` 0: a raw sample) or one rollup bucket
    (`resolution` 60 or 3600 seconds, `t` its start): every series' value packed as
    little-endian float32 in the order of the layout's keys (NaN: absent). `count` is how
    many raw samples the row summarizes (1 for a raw one)."""

    __tablename__ = "telemetry"

    site: Mapped[str] = mapped_column(String(63), primary_key=True)
    resolution: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    t: Mapped[datetime] = mapped_column(primary_key=True)
    layout_id: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    values: Mapped[bytes] = mapped_column(LargeBinary)


class TelemetryPendingRow(Base):
    """A rollup bucket (`resolution` 60 or 3600, `t` its start) whose inputs changed since it
    was last computed: a raw sample (or a minute row) landed in it. Every such write bumps
    `mark`; the rollup job deletes the row only at the mark it read, so a sample arriving
    while the bucket is computed leaves it pending for the next tick."""

    __tablename__ = "telemetry_pending"

    site: Mapped[str] = mapped_column(String(63), primary_key=True)
    resolution: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    t: Mapped[datetime] = mapped_column(primary_key=True)
    mark: Mapped[int] = mapped_column(Integer)
