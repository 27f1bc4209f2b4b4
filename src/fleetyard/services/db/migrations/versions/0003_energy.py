"""Energy over time (issue 11): uploaded energy traces, the deferred-work schedule of each
plan revision, and hourly usage as the sites reported it (for showback).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The column types of tables.py, spelled out so this file never changes with it.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "traces",
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_traces")),
    )
    op.create_table(
        "schedules",
        sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_schedules")),
    )
    op.create_table(
        "usage_hours",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("workload", sa.String(length=63), nullable=False),
        sa.Column("gpu_sku", sa.String(length=63), nullable=False),
        sa.Column("hour", TIME, nullable=False),
        sa.Column("replica_seconds", sa.Double(), nullable=False),
        sa.Column("gpu_seconds", sa.Double(), nullable=False),
        sa.Column("energy_kwh", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("site", "workload", "gpu_sku", "hour", name=op.f("pk_usage_hours")),
    )
    op.create_index(op.f("ix_usage_hours_hour"), "usage_hours", ["hour"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_usage_hours_hour"), table_name="usage_hours")
    op.drop_table("usage_hours")
    op.drop_table("schedules")
    op.drop_table("traces")
