"""Telemetry rollups (issue 12): the buckets waiting to be (re)computed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "telemetry_pending",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("resolution", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("t", TIME, nullable=False),
        sa.Column("mark", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", "resolution", "t", name=op.f("pk_telemetry_pending")),
    )


def downgrade() -> None:
    op.drop_table("telemetry_pending")
