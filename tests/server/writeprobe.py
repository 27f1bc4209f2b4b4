"""Seen from outside the server: does it hold an open write transaction right now?

SQLite: its write lock (BEGIN IMMEDIATE fails while a writer holds it). PostgreSQL:
`pg_stat_activity` shows an open transaction of the server's database running one of
the given statements. The kill tests use it to SIGKILL the server inside an apply.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from tests.server.conftest import PG_ADMIN, ServerProcess


def write_probe(server: ServerProcess, db: str | None, statements: Sequence[str]) -> Callable[[], bool]:
    """A probe for `server` (on SQLite when `db` is None, else the PostgreSQL URL `db`);
    on PostgreSQL a transaction counts when its query starts like one of `statements`."""
    if db is None:
        path = server.data / "fleetyard.db"

        def sqlite_probe() -> bool:
            conn = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as exc:
                return "locked" in str(exc)
            finally:
                conn.close()

        return sqlite_probe
    import psycopg

    name = db.rsplit("/", 1)[1]
    conn = psycopg.connect(PG_ADMIN, autocommit=True)
    like = " OR ".join("query ILIKE %s" for _ in statements)
    params = (name, *(f"%{s}%" for s in statements))

    def pg_probe() -> bool:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND xact_start IS NOT NULL "
            f"AND pid <> pg_backend_pid() AND ({like})", params).fetchone()
        return bool(row and row[0])

    return pg_probe
