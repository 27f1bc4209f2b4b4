"""Engines for SQLite and PostgreSQL, sessions, and running the packaged migrations.

SQLite runs in WAL mode with `synchronous=FULL` (a commit survives a crash of the
process and of the machine), a 30 s busy timeout so writers queue instead of
failing, and foreign keys on. PostgreSQL keeps its defaults (`synchronous_commit`
on). A bad URL or an unreachable database is a `DatabaseError` with one line that
names the database (password hidden).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "DatabaseError", "DatabaseUrlError", "current_revision", "head_revision", "make_engine",
           "migrate", "safe_url"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x666C7964  # pg_advisory_xact_lock key: one migrator at a time


class DatabaseError(Exception):
    """The database URL is wrong, or the database cannot be reached or migrated."""


class DatabaseUrlError(DatabaseError):
    """The database URL is malformed or names a database fleetyard does not support."""


def safe_url(url: str | URL) -> str:
    """The URL for messages, password hidden."""
    try:
        return (make_url(url) if isinstance(url, str) else url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<invalid URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for `sqlite:///PATH` or `postgresql+psycopg://...` (`postgresql://` means psycopg)."""
    try:
        u = make_url(url)
    except exc.ArgumentError as e:
        raise DatabaseUrlError(f"invalid database URL {url!r}: expected sqlite:///PATH or "
                            "postgresql+psycopg://USER@HOST:PORT/DB") from e
    backend = u.get_backend_name()
    if backend == "sqlite":
        if not u.database or u.database == ":memory:":
            raise DatabaseUrlError("an in-memory SQLite database would lose everything: give sqlite:///PATH")
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if u.drivername in ("postgresql", "postgres"):
            u = u.set(drivername="postgresql+psycopg")
        if u.get_driver_name() != "psycopg":
            raise DatabaseUrlError(f"database URL {safe_url(u)}: use the psycopg driver (postgresql+psycopg://)")
        return create_engine(u, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise DatabaseUrlError(f"unsupported database {safe_url(u)}: expected sqlite:///PATH or postgresql+psycopg://...")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this package."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: empty)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except exc.OperationalError as e:
        raise DatabaseError(f"cannot connect to {safe_url(engine.url)}: {_reason(e)}") from e


def migrate(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the database to `revision` (default: the newest); returns (before, after).

    Runs in one transaction (PostgreSQL and SQLite have transactional DDL), under an
    advisory lock on PostgreSQL so two servers starting together do not race.
    """
    cfg = _config()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            after = MigrationContext.configure(conn).get_current_revision()
    except exc.OperationalError as e:
        raise DatabaseError(f"cannot connect to {safe_url(engine.url)}: {_reason(e)}") from e
    except exc.SQLAlchemyError as e:
        raise DatabaseError(f"migrating {safe_url(engine.url)} failed: {_reason(e)}") from e
    if after is None:
        raise DatabaseError(f"migrating {safe_url(engine.url)} left no revision")
    return before, after


def _reason(e: exc.SQLAlchemyError) -> str:
    orig = getattr(e, "orig", None)
    text_ = str(orig if orig is not None else e).strip().splitlines()
    return text_[0] if text_ else type(e).__name__


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session; the caller commits. Rolled back and closed on the way out."""
        with self.sessions() as s:
            try:
                yield s
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
