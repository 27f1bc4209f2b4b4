"""Initial schema: resources, fleet state, plan revisions, site reports, tokens, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The column types of tables.py, spelled out so this file never changes with it.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_resources_kind_name")),
    )
    fleet_state = op.create_table(
        "fleet_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_state")),
    )
    op.create_table(
        "plan_revisions",
        sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("models", JSON, nullable=False),
        sa.Column("cost_per_hour", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_plan_revisions")),
    )
    op.create_table(
        "site_reports",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("peer_url", sa.String(length=512), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("first_seen", TIME, nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_site_reports")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.bulk_insert(fleet_state, [{"id": 1, "revision": 0, "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    for table in ("audit_log", "tokens", "site_reports", "plan_revisions", "fleet_state", "resources"):
        op.drop_table(table)
