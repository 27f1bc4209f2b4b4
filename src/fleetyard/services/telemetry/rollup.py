"""Rollups: 60 s buckets from raw samples, 3600 s buckets from the 60 s ones.

A bucket's row summarizes every row of the finer resolution inside it: a gauge is the
mean weighted by `count` (so an hour is the mean of its raw samples, not of its
minutes), a counter its last value; `count` is the number of raw samples summarized
and a key is estimated if any summarized value was. Rows of different layouts mix
(a workload added mid-minute): the bucket's layout is the union of their keys.

Which buckets to compute is the `telemetry_pending` table, filled by every write
below them (store.ingest for minutes, this job for hours). A bucket is computed only
once it has closed (`GRACE` after its end), so the current minute is computed once,
not at every heartbeat; a late sample (an agent offline for an hour) marks its old
bucket again, and the bucket is computed again from all its inputs - so a rollup
always equals the raw data it summarizes, however the samples arrived.

Each call does at most `budget` buckets (oldest first), so a backlog drains over
several ticks without one long transaction. Two servers may run the job: a bucket's
pending row is deleted only at the `mark` read, and the recomputation is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from fleetyard.services.db import Database
from fleetyard.services.telemetry.store import (
    LAYOUTS,
    PENDING,
    RAW,
    ROWS,
    Layout,
    bucket,
    dialect_insert,
    layout_ids,
    mark_pending,
    pack,
    unpack,
)
from fleetyard.services.wire_telemetry import SERIES, split_key

__all__ = ["GRACE", "LEVELS", "RollupJob", "Summary", "roll_up", "summarize", "take"]

GRACE = timedelta(seconds=10)  # a bucket is computed this long after it ends (samples in flight)
LEVELS = {60: RAW, 3600: 60}  # a resolution and the one it is computed from


@dataclass(frozen=True)
class Summary:
    layout: Layout
    values: list[float]
    count: int


def _is_counter(key: str) -> bool:
    info = SERIES.get(split_key(key)[0])
    return info is not None and info.kind == "counter"


def summarize(rows: Sequence[tuple[Layout, np.ndarray, int]]) -> Summary:
    """One bucket from its input rows (layout, values, count), oldest first."""
    keys = sorted({k for layout, _, _ in rows for k in layout.keys})
    estimated = sorted({k for layout, _, _ in rows for k in layout.estimated})
    column = {k: i for i, k in enumerate(keys)}
    m = np.full((len(rows), len(keys)), np.nan)
    counts = np.array([c for _, _, c in rows], dtype=np.float64)
    for i, (layout, values, _) in enumerate(rows):
        m[i, [column[k] for k in layout.keys]] = values
    present = ~np.isnan(m)
    weights = present * counts[:, None]
    total = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.where(present, m, 0.0) * counts[:, None]).sum(axis=0) / total
    last_row = len(rows) - 1 - np.argmax(present[::-1], axis=0)
    last = m[last_row, np.arange(len(keys))]
    out = [float(last[j]) if _is_counter(k) else float(mean[j]) for j, k in enumerate(keys)]
    return Summary(Layout(tuple(keys), tuple(estimated)), out, int(counts.sum()))


def roll_up(session: Session, site: str, resolution: int, start: datetime) -> bool:
    """Compute one bucket from its inputs and store it (or delete it: no inputs left)."""
    source = LEVELS[resolution]
    end = start + timedelta(seconds=resolution)
    conn = session.connection()
    found = conn.execute(
        select(ROWS.c["values"], ROWS.c.count, LAYOUTS.c["keys"], LAYOUTS.c.estimated)
        .join(LAYOUTS, LAYOUTS.c.id == ROWS.c.layout_id)
        .where(ROWS.c.site == site, ROWS.c.resolution == source, ROWS.c.t >= start, ROWS.c.t < end)
        .order_by(ROWS.c.t)).all()
    key = and_(ROWS.c.site == site, ROWS.c.resolution == resolution, ROWS.c.t == start)
    if not found:
        conn.execute(delete(ROWS).where(key))
        return False
    s = summarize([(Layout(tuple(keys), tuple(est)), unpack(values), count) for values, count, keys, est in found])
    layout_id = layout_ids(session, site, [s.layout])[s.layout]
    row = {"site": site, "resolution": resolution, "t": start, "layout_id": layout_id, "count": s.count,
           "values": pack(s.values)}
    stmt = dialect_insert(conn.dialect.name, ROWS).values(row)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[ROWS.c.site, ROWS.c.resolution, ROWS.c.t],
        set_={"layout_id": stmt.excluded.layout_id, "count": stmt.excluded.count, "values": stmt.excluded["values"]}))
    return True


def take(session: Session, site: str, resolution: int, start: datetime, mark: int) -> bool:
    """Claim a pending bucket read at `mark`: False if a write marked it again since (or
    another server took it). On PostgreSQL the DELETE waits for a heartbeat that is
    marking the row and then sees its new mark; on SQLite writers are serialized."""
    return bool(session.connection().execute(delete(PENDING).where(
        PENDING.c.site == site, PENDING.c.resolution == resolution, PENDING.c.t == start,
        PENDING.c.mark == mark)).rowcount == 1)


class RollupJob:
    """The background job (server/app.py): at most `budget` closed pending buckets per call."""

    def __init__(self, db: Database, budget: int = 500) -> None:
        self.db, self.budget = db, budget

    def __call__(self, now: datetime) -> None:
        self.run(now)

    def run(self, now: datetime | None = None) -> int:
        """One pass; the number of buckets (rollup) or rows (retention) it handled."""
        at = now or datetime.now(UTC)
        done = 0
        for resolution in (60, 3600):  # minutes first: the hours they mark are then due in the same call
            closed_before = at - GRACE - timedelta(seconds=resolution)
            with self.db.session() as session:
                conn = session.connection()
                due = conn.execute(
                    select(PENDING.c.site, PENDING.c.t, PENDING.c.mark)
                    .where(PENDING.c.resolution == resolution, PENDING.c.t <= closed_before)
                    .order_by(PENDING.c.t).limit(self.budget - done)).all()
                for site, start, mark in due:
                    if not take(session, site, resolution, start, mark):
                        continue  # marked again meanwhile (or another server took it): next tick
                    roll_up(session, site, resolution, start)
                    if resolution == 60:
                        mark_pending(session, site, 3600, [bucket(start, 3600)])
                    done += 1
                session.commit()
            if done >= self.budget:
                break
        return done
