"""Fixtures for the control plane: the real server as a process, on SQLite and PostgreSQL.

PostgreSQL is the one at 127.0.0.1:5432 (trust auth). Each test session creates
throwaway databases `fleetyard_test_<random>[_<n>]` from the `test` database and
drops them at the end; if PostgreSQL cannot be reached the PostgreSQL cases are
skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fleetyard.services.client import Client, read_spec_files
from fleetyard.services.wire import SpecFile

FLEET = Path(__file__).parent / "fleet"
PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=root connect_timeout=3"
START_TIMEOUT = 40.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """`python -m fleetyard server` on a free loopback port, with bounded waits."""

    data: Path
    db: str | None = None
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data / f"server-{self.starts}.log"

    @property
    def admin_token(self) -> str:
        return (self.data / "admin.token").read_text().strip()

    def start(self) -> ServerProcess:
        self.data.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        cmd = [sys.executable, "-m", "fleetyard", "server", "--listen", f"127.0.0.1:{self.port}",
               "--data", str(self.data), "--admin-token-file", str(self.data / "admin.token")]
        if self.db:
            cmd += ["--db", self.db]
        # API tests send heartbeats by hand and then fall silent: failover (on by default in a real
        # server) would re-plan under them; the failover tests turn it on (FLEETYARD_FAILOVER=true).
        env = {**os.environ, "FLEETYARD_HEARTBEAT_INTERVAL": "2", "FLEETYARD_FAILOVER": "false", **self.extra_env}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server not up within {START_TIMEOUT} s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, token if token is not None else self.admin_token, timeout=60)


class Postgres:
    """Throwaway databases on the local PostgreSQL, all dropped at the end of the session."""

    def __init__(self) -> None:
        self.prefix = f"fleetyard_test_{secrets.token_hex(4)}"
        self.made: list[str] = []

    def _admin(self) -> object:
        import psycopg

        return psycopg.connect(PG_ADMIN, autocommit=True)

    def new_database(self) -> str:
        name = self.prefix if not self.made else f"{self.prefix}_{len(self.made)}"
        with self._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return f"postgresql+psycopg://root@127.0.0.1:5432/{name}"

    def drop_all(self) -> None:
        with self._admin() as conn:  # type: ignore[attr-defined]
            for name in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc}")
    pg = Postgres()
    try:
        yield pg
    finally:
        pg.drop_all()


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def new_database(request: pytest.FixtureRequest) -> Callable[[str], str | None]:
    """`new_database(backend)`: None for SQLite (the server's file), a fresh PostgreSQL URL otherwise."""

    def make(backend: str) -> str | None:
        if backend == "sqlite":
            return None
        pg: Postgres = request.getfixturevalue("postgres")
        return pg.new_database()

    return make


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers for one test; every one is stopped at the end."""
    started: list[ServerProcess] = []

    def make(db: str | None = None, name: str = "server", **env: str) -> ServerProcess:
        s = ServerProcess(tmp_path / name, db, extra_env=env)
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per module and backend, with the test fleet applied."""
    db = None
    if request.param == "postgres":
        db = request.getfixturevalue("postgres").new_database()
    s = ServerProcess(tmp_path_factory.mktemp(f"server-{request.param}"), db).start()
    try:
        with s.client() as api:
            api.apply(fleet_files())
        yield s
    finally:
        s.stop()


def fleet_files() -> list[SpecFile]:
    files, problems = read_spec_files([FLEET])
    assert problems == []
    return files
