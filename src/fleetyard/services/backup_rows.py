"""The database half of a backup: every row in one snapshot, as JSON, and back.

`snapshot` reads every table of `tables.py` inside ONE read transaction, so the rows
agree with each other while the server keeps writing: on PostgreSQL a
`REPEATABLE READ READ ONLY` transaction (one snapshot for all statements); on SQLite
an explicit `BEGIN` (in WAL mode a reader keeps the snapshot of its first read until
it ends, and never blocks the writer).

Rows are logical: a column's value as JSON (times as ISO 8601 UTC, documents as
JSON), so a SQLite backup restores into PostgreSQL and back. `insert_rows` writes
them back through the same SQLAlchemy tables and, on PostgreSQL, moves each serial
counter above the restored ids so the next insert does not collide.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, text

from fleetyard.services.db import Base, FleetStateRow
from fleetyard.services.db.tables import UtcDateTime

__all__ = ["TABLES", "decode_row", "encode_row", "insert_rows", "occupied", "snapshot"]

TABLES: tuple[Table, ...] = tuple(Base.metadata.sorted_tables)
BATCH = 500


def _time_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, UtcDateTime))


def encode_row(table: Table, row: dict[str, Any]) -> bytes:
    """One row as a JSON line (times as ISO 8601 with their UTC offset)."""
    times = _time_columns(table)
    doc = {k: (v.isoformat() if k in times and v is not None else v) for k, v in row.items()}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode_row(table: Table, line: bytes, where: str) -> dict[str, Any]:
    """A JSON line back into column values; ValueError naming `where` and the column if it does not fit."""
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{where}: not a JSON row ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    columns = {c.name for c in table.columns}
    unknown = sorted(set(doc) - columns)
    if unknown:
        raise ValueError(f"{where}: column {unknown[0]!r} is not in table {table.name}")
    for name in _time_columns(table):
        value = doc.get(name)
        if value is None:
            continue
        try:
            doc[name] = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: column {name}: expected an ISO 8601 time, got {value!r}") from None
        if doc[name].tzinfo is None:
            raise ValueError(f"{where}: column {name}: time {value!r} has no UTC offset")
    return doc


def snapshot(engine: Engine) -> Iterator[tuple[Table, Iterator[dict[str, Any]]]]:
    """Every table with its rows (in primary-key order), all read in one transaction.

    A generator: the transaction stays open until the last table has been read (or
    the generator is closed), so the caller can stream the rows out."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            conn.execute(text("SELECT 1"))  # the snapshot is taken here, before the first table
        else:
            conn.exec_driver_sql("BEGIN")  # pysqlite starts no transaction for SELECT by itself
            conn.execute(text("SELECT count(*) FROM sqlite_master"))  # the WAL read snapshot starts here
        try:
            for table in TABLES:
                result = conn.execute(select(table).order_by(*table.primary_key.columns))
                yield table, (dict(r._mapping) for r in result)
        finally:
            conn.rollback()


def occupied(conn: Connection) -> dict[str, int]:
    """What the database already holds, by table ({} for an empty fleet): any resource,
    token, plan, site report or audit entry, or a fleet revision above 0."""
    out: dict[str, int] = {}
    for table in TABLES:
        if table.name == FleetStateRow.__tablename__:
            revision = conn.execute(select(func.max(table.c.revision))).scalar()
            if revision:
                out["fleet revision"] = int(revision)
            continue
        n = int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
        if n:
            out[table.name] = n
    return out


def insert_rows(conn: Connection, rows: Iterable[tuple[Table, list[dict[str, Any]]]]) -> dict[str, int]:
    """Insert the rows (replacing the migration's initial fleet state); returns rows per table.

    Runs in the caller's transaction, so a failure leaves nothing behind."""
    counts: dict[str, int] = {t.name: 0 for t in TABLES}
    conn.execute(delete(Base.metadata.tables[FleetStateRow.__tablename__]))
    for table, batch in rows:
        if batch:
            conn.execute(insert(table), batch)
            counts[table.name] += len(batch)
    if conn.dialect.name == "postgresql":
        for table in TABLES:
            col = table.autoincrement_column
            if col is None:
                continue
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                              f"COALESCE((SELECT MAX({col.name}) FROM {table.name}), 0) + 1, false)"))
    return counts
