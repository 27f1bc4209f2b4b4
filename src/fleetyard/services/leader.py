"""Which server process runs the background jobs: the one holding the leader lock.

Several `fleetyard server` processes may serve one PostgreSQL database (issue 14,
docs/scale-out.md). Every process serves the API; only the leader runs the jobs of
`server/background.py` (failover, rollouts, webhook, telemetry rollup and retention).
The leader holds a PostgreSQL *session* advisory lock on a connection of its own
(`pg_try_advisory_lock`): the lock lives exactly as long as that connection, so a
leader that is killed (`kill -9`, a crash, a lost host) drops it when PostgreSQL closes
the connection, and a follower takes it on its next tick (every `tick_interval`).

The connection asks PostgreSQL for TCP keepalives (idle 5 s, then 3 probes 2 s apart),
so a leader whose host vanishes without closing its sockets loses the lock after about
11 s. Each tick the leader checks its connection (`SELECT 1`); if it is gone, the
process stops running jobs until it wins the lock again. Leadership is a matter of
efficiency, not of correctness: every job still decides with row locks or conditional
updates, so if two processes ever both believe they lead (the short window while a
lost connection is noticed), each change is still made once.

SQLite is one process's embedded database: there every process leads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from fleetyard.services.db import Database

__all__ = ["LEADER_LOCK", "Leadership", "server_id"]

log = logging.getLogger("fleetyard.server")

LEADER_LOCK = 0x666C794C  # pg_try_advisory_lock key of the background-jobs leader ('flyL')
KEEPALIVE = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2", "SET tcp_keepalives_count = 3")


def server_id() -> str:
    """This process, as logs and metrics name it: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """`check()` once per tick: True while this process holds the leader lock."""

    def __init__(self, db: Database, key: int = LEADER_LOCK) -> None:
        self.key = key
        self.embedded = db.dialect != "postgresql"
        self.url = db.engine.url
        self._engine = None if self.embedded else create_engine(self.url, poolclass=NullPool,
                                                                  isolation_level="AUTOCOMMIT")
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.leading = self.embedded
        self.elected = 0  # times this process became the leader

    def check(self) -> bool:
        """Keep or try to take the lock; never raises (a database outage means: not leading)."""
        if self.embedded:
            return True
        with self._lock:
            try:
                if self._conn is not None:
                    self._conn.execute(text("SELECT 1"))
                    return True
                conn = self._connect()
                if conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar():
                    self._conn = conn
                    self._become(True)
                    return True
                conn.close()
            except Exception as exc:  # the connection (or the database) is gone: the lock with it
                if self._conn is not None:
                    log.warning("leader lock lost (%s); background jobs stop here", str(exc).splitlines()[0])
                self._drop()
            return False

    def _connect(self) -> Connection:
        assert self._engine is not None
        conn = self._engine.connect()
        for statement in KEEPALIVE:
            conn.execute(text(statement))
        return conn

    def _become(self, leading: bool) -> None:
        if leading and not self.leading:
            self.elected += 1
            log.warning("server %s is the leader: it runs the background jobs", server_id())  # rare, notable
        self.leading = leading

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._become(False)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass

    def release(self) -> None:
        """Give the lock up (a clean shutdown: a follower takes over on its next tick)."""
        if self.embedded:
            return
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                except Exception:
                    pass
            self._drop()
        if self._engine is not None:
            self._engine.dispose()
