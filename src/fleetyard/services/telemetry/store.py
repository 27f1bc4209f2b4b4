"""Raw samples in: one row per site and moment, packed, stored once.

A row holds every value of one sample as little-endian float32 in the order of a
*layout*'s keys (NaN: absent); a site's layout changes only when its workloads or
sources do, so most rows share one, found by a digest. `ingest` runs inside the
heartbeat's transaction (server/routes/sites.py), so it is cheap: one layout lookup,
one multi-row insert that skips a (site, t) already stored (a batch resent after a
lost reply is stored once), and one upsert marking the minute buckets it touched as
pending for the rollup job (rollup.py). Samples may arrive in any order.

A sample more than `MAX_AHEAD` in the future (by the server's clock) is refused -
dropped, not stored, counted in the return value and logged - because a clock that
runs ahead would otherwise write rows that outlive the real ones in every chart; the
heartbeat itself still succeeds, so a bad clock never stops a site's sync.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
from sqlalchemy import Insert, Table, bindparam, select
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fleetyard.services.db.tables import TelemetryLayoutRow, TelemetryPendingRow, TelemetryRow
from fleetyard.services.wire_telemetry import Sample

__all__ = ["MAX_AHEAD", "RAW", "Ingested", "Layout", "bucket", "dialect_insert", "ingest", "layout_ids",
           "mark_pending", "pack", "unpack"]

log = logging.getLogger("fleetyard.server")
MAX_AHEAD = timedelta(minutes=5)
RAW = 0  # the resolution of a raw sample
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LAYOUTS = cast(Table, TelemetryLayoutRow.__table__)
ROWS = cast(Table, TelemetryRow.__table__)
PENDING = cast(Table, TelemetryPendingRow.__table__)


@dataclass(frozen=True)
class Layout:
    keys: tuple[str, ...]
    estimated: tuple[str, ...]

    def digest(self, site: str) -> str:
        return hashlib.sha256(json.dumps([site, self.keys, self.estimated]).encode()).hexdigest()


@dataclass(frozen=True)
class Ingested:
    accepted: int  # offered for storage (one already stored is skipped by the insert)
    refused: int  # too far in the future


def utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def bucket(t: datetime, seconds: int) -> datetime:
    """The start of the `seconds`-long bucket holding `t` (buckets align on the Unix epoch)."""
    s = int((t - EPOCH).total_seconds() // seconds) * seconds
    return EPOCH + timedelta(seconds=s)


def pack(values: Sequence[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def dialect_insert(dialect: str, table: Table) -> PgInsert | SqliteInsert:
    """INSERT with ON CONFLICT, which both databases spell alike."""
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


@functools.cache
def _row_insert(dialect: str) -> Insert:
    names = ("site", "resolution", "t", "layout_id", "count", "values")
    stmt = dialect_insert(dialect, ROWS).values({n: bindparam(n, type_=ROWS.c[n].type) for n in names})
    return stmt.on_conflict_do_nothing(index_elements=[ROWS.c.site, ROWS.c.resolution, ROWS.c.t])


@functools.cache
def _pending_upsert(dialect: str) -> Insert:
    stmt = dialect_insert(dialect, PENDING).values(
        {n: bindparam(n, type_=PENDING.c[n].type) for n in ("site", "resolution", "t")} | {"mark": 1})
    return stmt.on_conflict_do_update(index_elements=[PENDING.c.site, PENDING.c.resolution, PENDING.c.t],
                                      set_={"mark": PENDING.c.mark + 1})


def layout_ids(session: Session, site: str, layouts: Iterable[Layout]) -> dict[Layout, int]:
    """The id of each layout, created if new (two servers creating one race harmlessly)."""
    wanted = {layout.digest(site): layout for layout in set(layouts)}
    if not wanted:
        return {}
    conn = session.connection()
    found = dict(conn.execute(select(LAYOUTS.c.digest, LAYOUTS.c.id).where(LAYOUTS.c.digest.in_(wanted))).all())
    missing = [d for d in wanted if d not in found]
    if missing:
        stmt = dialect_insert(conn.dialect.name, LAYOUTS).on_conflict_do_nothing(index_elements=[LAYOUTS.c.digest])
        conn.execute(stmt, [{"site": site, "digest": d, "keys": list(wanted[d].keys),
                             "estimated": list(wanted[d].estimated)} for d in missing])
        found |= dict(conn.execute(select(LAYOUTS.c.digest, LAYOUTS.c.id).where(LAYOUTS.c.digest.in_(missing))).all())
    return {layout: found[d] for d, layout in wanted.items()}


def mark_pending(session: Session, site: str, resolution: int, starts: Iterable[datetime]) -> None:
    """These `resolution` buckets of `site` must be (re)computed."""
    rows = [{"site": site, "resolution": resolution, "t": t} for t in sorted(set(starts))]
    if rows:
        conn = session.connection()
        conn.execute(_pending_upsert(conn.dialect.name), rows)


def ingest(session: Session, site: str, samples: Sequence[Sample], *, now: datetime | None = None) -> Ingested:
    """Store `samples` of `site` as raw rows in the caller's transaction (it commits)."""
    if not samples:
        return Ingested(0, 0)
    limit = (now or datetime.now(UTC)) + MAX_AHEAD
    accepted: dict[datetime, tuple[Layout, list[float]]] = {}
    refused = 0
    for sample in samples:
        t = utc(sample.t)
        if t > limit:
            refused += 1
            continue
        keys = tuple(sorted(sample.values))
        estimated = tuple(sorted(set(sample.estimated) & set(keys)))
        accepted[t] = (Layout(keys, estimated), [sample.values[k] for k in keys])  # one per t: the last wins
    if refused:
        log.warning("site %s: %d telemetry samples more than %s ahead of the server's clock were refused",
                    site, refused, MAX_AHEAD)
    if not accepted:
        return Ingested(0, refused)
    ids = layout_ids(session, site, (layout for layout, _ in accepted.values()))
    conn = session.connection()
    rows = [{"site": site, "resolution": RAW, "t": t, "layout_id": ids[layout], "count": 1, "values": pack(values)}
            for t, (layout, values) in sorted(accepted.items())]
    conn.execute(_row_insert(conn.dialect.name), rows)
    mark_pending(session, site, 60, (bucket(t, 60) for t in accepted))
    return Ingested(len(rows), refused)
