"""Retention: how long each resolution is kept, and the job deleting what is older.

A row is deleted only once rolled up: raw and minute rows are kept, past their
retention, while their site has a bucket of the next resolution pending at or before
them (rollup.py). Hour rows are the last level and go at their retention. The job
works every `every` seconds (a minute by default, not every tick) and deletes at most
`budget` rows per resolution and site per call, oldest first, so a large backlog (a
retention shortened by a restart) drains in small transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleetyard.services.db import Database
from fleetyard.services.telemetry.store import LAYOUTS, PENDING, RAW, ROWS

__all__ = ["RESOLUTIONS", "Retention", "RetentionJob", "delete_expired"]

RESOLUTIONS = (RAW, 60, 3600)
NEXT = {RAW: 60, 60: 3600}


@dataclass(frozen=True)
class Retention:
    """How long rows of each resolution are kept (server settings FLEETYARD_TELEMETRY_*_RETENTION)."""

    raw: timedelta = timedelta(hours=6)
    minute: timedelta = timedelta(days=7)
    hour: timedelta = timedelta(days=365)

    def of(self, resolution: int) -> timedelta:
        return {RAW: self.raw, 60: self.minute, 3600: self.hour}[resolution]


def delete_expired(session: Session, retention: Retention, now: datetime, budget: int) -> int:
    """Delete up to `budget` expired, rolled-up rows per site and resolution; the number deleted."""
    conn = session.connection()
    sites = conn.execute(select(LAYOUTS.c.site).distinct()).scalars().all()
    deleted = 0
    for resolution in RESOLUTIONS:
        for site in sites:
            cutoff = now - retention.of(resolution)
            if resolution in NEXT:
                oldest_pending = conn.execute(select(func.min(PENDING.c.t)).where(
                    PENDING.c.site == site, PENDING.c.resolution == NEXT[resolution])).scalar()
                if oldest_pending is not None:
                    cutoff = min(cutoff, oldest_pending)
            where = (ROWS.c.site == site, ROWS.c.resolution == resolution)
            oldest = select(ROWS.c.t).where(*where, ROWS.c.t < cutoff).order_by(ROWS.c.t).limit(budget)
            deleted += conn.execute(delete(ROWS).where(*where, ROWS.c.t.in_(oldest.scalar_subquery()))).rowcount
    return deleted


class RetentionJob:
    """The background job (server/app.py): `delete_expired` every `every` seconds."""

    def __init__(self, db: Database, retention: Retention, *, every: float = 60.0, budget: int = 5000) -> None:
        self.db, self.retention, self.every, self.budget = db, retention, every, budget
        self.last: datetime | None = None

    def __call__(self, now: datetime) -> None:
        self.run(now)

    def run(self, now: datetime | None = None) -> int:
        """One pass; the number of buckets (rollup) or rows (retention) it handled."""
        at = now or datetime.now(UTC)
        if self.last is not None and (at - self.last).total_seconds() < self.every:
            return 0
        self.last = at
        with self.db.session() as session:
            n = delete_expired(session, self.retention, at, self.budget)
            session.commit()
        return n
