"""A database filled as 100 sites x 30 days of history would leave it, written directly (fast).

Under the default retention a site keeps 6 h of raw samples (every 5 s), 7 days of
1-minute rollups and every hour (here 30 days): 4,320 + 10,080 + 720 rows. Every
row has `keys` values (random float32, so nothing compresses better than real data).
SQLite is written with sqlite3 in the text format SQLAlchemy uses; PostgreSQL with COPY.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import text

from fleetyard.services.db import Database
from fleetyard.services.telemetry.store import Layout, layout_ids
from fleetyard.services.wire_telemetry import SERIES, series_key

WORKLOADS = ("chat-eu", "chat-us", "embed", "rerank", "batch")
SOURCES = ("origin", "peer", "relay")


def keys() -> tuple[str, ...]:
    """About 40 keys: every site-wide series, the workload series for 5 workloads, 3 sources."""
    out = []
    for name, info in SERIES.items():
        labels = {"": ("",), "workload": WORKLOADS, "source": SOURCES}[info.label]
        out += [series_key(name, label) for label in labels]
    return tuple(sorted(out))


def rows_per_site(now: datetime, days: int) -> Iterator[tuple[int, datetime]]:
    """(resolution, t) of every row one site keeps after `days` of history, by resolution."""
    for h in range(days * 24, 0, -1):  # hours are kept for every closed hour (a year by default)
        yield 3600, now.replace(minute=0) - timedelta(hours=h)
    for m in range(7 * 24 * 60, 0, -1):
        yield 60, now - timedelta(minutes=m)
    for s in range(6 * 720, 0, -1):
        yield 0, now - timedelta(seconds=5 * s)


def fill(db: Database, sites: int, days: int, now: datetime) -> dict[str, float]:
    """Write the rows; returns rows written and seconds taken."""
    k = keys()
    with db.session() as s:
        ids = {f"sim-{i}": layout_ids(s, f"sim-{i}", [Layout(k, ())])[Layout(k, ())] for i in range(sites)}
        s.commit()
    rng = np.random.default_rng(7)
    blobs = [rng.random(len(k), dtype=np.float32).astype("<f4").tobytes() for _ in range(997)]
    plan = list(rows_per_site(now.replace(second=0, microsecond=0), days))
    t0 = time.perf_counter()
    n = 0
    if db.dialect == "sqlite":
        path = db.engine.url.database
        assert path
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA synchronous=OFF")
        for site, lid in ids.items():
            conn.executemany('INSERT INTO telemetry (site, resolution, t, layout_id, count, "values") '
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             ((site, r, t.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"), lid,
                               {0: 1, 60: 12, 3600: 720}[r], blobs[(n + j) % 997]) for j, (r, t) in enumerate(plan)))
            n += len(plan)
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    else:
        with db.engine.connect() as c:
            raw = c.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cur:  # type: ignore[attr-defined]
                with cur.copy('COPY telemetry (site, resolution, t, layout_id, count, "values") FROM STDIN') as cp:
                    for site, lid in ids.items():
                        for j, (r, t) in enumerate(plan):
                            cp.write_row((site, r, t, lid, {0: 1, 60: 12, 3600: 720}[r], blobs[(n + j) % 997]))
                        n += len(plan)
            raw.commit()
            c.execute(text("ANALYZE telemetry"))
            c.commit()
    return {"rows": n, "fill_s": time.perf_counter() - t0, "keys": len(k)}


def size_bytes(db: Database) -> int:
    """The history's bytes on disk: the SQLite file (after a checkpoint), or PostgreSQL's relations."""
    if db.dialect == "sqlite":
        path = db.engine.url.database
        assert path
        conn = sqlite3.connect(path)
        page = conn.execute("PRAGMA page_size").fetchone()[0] * conn.execute("PRAGMA page_count").fetchone()[0]
        conn.close()
        return int(page)
    with db.engine.connect() as c:
        return int(c.execute(text("SELECT pg_total_relation_size('telemetry') + "
                                  "pg_total_relation_size('telemetry_layouts') + "
                                  "pg_total_relation_size('telemetry_pending')")).scalar_one())


def now_utc() -> datetime:
    return datetime.now(UTC)
