"""`fleetyard backup` / `fleetyard restore`: real servers, real processes, SQLite and PostgreSQL.

The main test fills a server (the test fleet, a signed model with an alias, tokens),
runs `fleetyard backup` as a process while heartbeats and applies keep arriving,
copies the packs folder as docs/operations.md says, restores into an empty database
and data folder, starts a second server there and finds the same fleet, the same
plan, the same models, and the old tokens working. Then: what restore refuses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.registry import push
from fleetyard.services.client import Client
from fleetyard.services.http_backend import open_remote_store
from fleetyard.services.wire import SiteReport, SpecFile
from tests.replication.models import write_keys
from tests.server.conftest import ServerProcess, fleet_files
from tests.server.models import write_model

LIVE = "live"  # regions applied while the backup runs


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _db_args(db: str | None) -> list[str]:
    return ["--db", db] if db else []


def _region(i: int) -> SpecFile:
    return SpecFile(name=f"{LIVE}-{i}.yaml", content=(
        f"apiVersion: fleetyard/v1\nkind: Region\nmetadata: {{name: {LIVE}-{i}}}\n"
        f"spec:\n  location: {{lat: {i % 80}, lon: {i % 170}}}\n"))


@dataclass
class Writer:
    """Heartbeats and applies in two threads until stopped; each write's time and each plan by revision."""

    server: ServerProcess
    agent_token: str
    times: list[float] = field(default_factory=list)
    plans: dict[int, dict[str, Any]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def _beat(self) -> None:
        with Client(self.server.url, self.agent_token) as api:
            while not self.stop.is_set():
                api.report(SiteReport(site="fra-1", agent_version="t", revision=1))
                self.times.append(time.monotonic())
                time.sleep(0.02)

    def _apply(self) -> None:
        with self.server.client() as api:
            i = 0
            while not self.stop.is_set():
                api.apply([*fleet_files(), *(_region(j) for j in range(i + 1))])
                self.times.append(time.monotonic())
                plan = api.plan()
                self.plans[plan.revision] = plan.model_dump(mode="json")
                i += 1

    def __enter__(self) -> Writer:
        def guard(fn: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    fn()
                except Exception as exc:  # surfaced by the test
                    self.errors.append(repr(exc))
            return run

        self.threads = [threading.Thread(target=guard(f)) for f in (self._beat, self._apply)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _fill(server: ServerProcess, tmp_path: Path) -> str:
    """The test fleet, tiny-llm:1 signed with alias prod; returns an agent token for fra-1."""
    priv, _pub = write_keys(tmp_path / "keys")
    push(open_remote_store(server.url, server.admin_token), write_model(tmp_path / "model", seed=5, shards=1),
         "tiny-llm", "1", key=priv, alias="prod", workers=1)
    with server.client() as api:
        api.apply(fleet_files())
        return api.create_token("agent", "fra-1", description="fra-1 agent").token


def _state(api: Client) -> dict[str, Any]:
    return {"resources": {k: [r.model_dump(mode="json") for r in api.resources(k)]
                          for k in ("sites", "workloads", "regions")},
            "plan": api.plan().model_dump(mode="json"),
            "models": [m.model_dump(mode="json") for m in api.models()]}


@pytest.mark.parametrize(("source", "target"), [("sqlite", "sqlite"), ("postgres", "postgres"),
                                                ("sqlite", "postgres")])
def test_backup_while_serving_restores_the_same_fleet_plan_and_models(
        source: str, target: str, new_database: Callable[[str], str | None],
        server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    db = new_database(source)
    server = server_factory(db)
    agent = _fill(server, tmp_path)
    out = tmp_path / "fleet.backup"

    with Writer(server, agent) as writer:
        deadline = time.monotonic() + 30
        while not writer.plans and not writer.errors and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        done = _cli("backup", *_db_args(db), "--data", server.data, "-o", out)
        ended = time.monotonic()
    assert writer.errors == []
    assert done.returncode == 0, done.stderr
    during = sum(1 for t in writer.times if started < t < ended)
    assert during >= 3, f"only {during} writes while the backup ran"
    assert "registry metadata objects" in done.stdout and " bytes" in done.stdout
    assert not list(tmp_path.glob(".fleet.backup.*")), "the temporary file was left behind"
    with server.client() as api:
        source_state = _state(api)

    new_db = new_database(target)
    data = tmp_path / "restored"
    shutil.copytree(server.data / "registry" / "packs", data / "registry" / "packs")  # the chunk store
    done = _cli("restore", *_db_args(new_db), "--data", data, out)
    assert done.returncode == 0, done.stderr
    assert "restored from" in done.stdout and "pack index(es) skipped" not in done.stdout
    (data / "admin.token").write_text(server.admin_token)  # the old admin token, for ServerProcess.client
    restored = server_factory(new_db, "restored")
    with restored.client() as api:
        got = _state(api)
        assert [t.role for t in api.tokens()].count("agent") == 1  # the old admin token works
    assert Client(restored.url, agent).desired("fra-1").revision == got["plan"]["revision"]

    # One snapshot: the plan is the one the source served at that revision, and the resources
    # are exactly those applied by then (apply i adds region live-i and bumps the revision).
    revision = got["plan"]["revision"]
    assert revision >= 2 and got["plan"] == writer.plans[revision]
    live = sorted(r["name"] for r in got["resources"]["regions"] if r["name"].startswith(LIVE))
    first = min(writer.plans)
    assert live == sorted(f"{LIVE}-{i}" for i in range(revision - first + 1))
    for kind in ("sites", "workloads"):
        assert got["resources"][kind] == source_state["resources"][kind]
    fixed = [r for r in got["resources"]["regions"] if not r["name"].startswith(LIVE)]
    assert fixed == [r for r in source_state["resources"]["regions"] if not r["name"].startswith(LIVE)]
    assert got["models"] == source_state["models"] and got["models"][0]["signed"]
    assert got["models"][0]["aliases"] == ["prod"]

    verify = CliRunner().invoke(app, ["registry", "verify", "-r", str(data / "registry"), "-q"])
    assert verify.exit_code == 0, verify.output
    with restored.client() as api:  # the counters (PostgreSQL sequences) continue above the restored ids
        last = api.audit(1)[0].id
        after = api.apply([*fleet_files(), _region(999)])
        assert after.revision == revision + 1 and api.audit(1)[0].id > last


# ---- what restore refuses (in-process CLI, one SQLite server) -------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServerProcess, Path]:
    """A filled SQLite server, stopped, and a backup of it."""
    tmp = tmp_path_factory.mktemp("backup-src")
    server = ServerProcess(tmp / "server").start()
    try:
        _fill(server, tmp)
    finally:
        server.stop()
    out = tmp / "fleet.backup"
    result = CliRunner().invoke(app, ["backup", "--data", str(server.data), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return server, out


def _restore(target: Path, backup: Path) -> Any:
    return CliRunner().invoke(app, ["restore", "--data", str(target), str(backup)])


def test_restore_refuses_a_target_that_is_not_empty(made: tuple[ServerProcess, Path], tmp_path: Path) -> None:
    server, backup = made
    result = _restore(server.data, backup)
    assert result.exit_code == 2
    assert "is not empty" in result.output and "restore only into a new, empty database" in result.output
    assert "Traceback" not in result.output


def test_restore_refuses_a_registry_that_is_not_empty(made: tuple[ServerProcess, Path], tmp_path: Path) -> None:
    _server, backup = made
    other = tmp_path / "other"
    push_dir = write_model(tmp_path / "m2", seed=9, shards=1)
    from fleetyard.registry import open_store
    push(open_store(other / "registry", create=True), push_dir, "other-llm", "1", workers=1)
    result = _restore(other, backup)
    assert result.exit_code == 2 and "versions/other-llm/1.json" in result.output, result.output


@pytest.mark.parametrize(("damage", "expected"), [
    ("truncate", "truncated"),
    ("flip", "is corrupted: its BLAKE3"),
    ("garbage", "not a readable tar file"),
    ("missing", "does not exist"),
])
def test_restore_refuses_a_damaged_backup_naming_the_problem(
        made: tuple[ServerProcess, Path], tmp_path: Path, damage: str, expected: str) -> None:
    _server, backup = made
    data = bytearray(backup.read_bytes())
    bad = tmp_path / "bad.backup"
    if damage == "truncate":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        at = data.index(b'"kind":"Site"')  # inside tables/resources.jsonl
        data[at + 9] ^= 0x20
        bad.write_bytes(bytes(data))
    elif damage == "garbage":
        bad.write_bytes(b"not a backup at all\n" * 100)
    result = _restore(tmp_path / "target", bad)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "target" / "fleetyard.db").exists() or damage == "missing"


def test_restore_without_the_packs_reports_missing_chunks(made: tuple[ServerProcess, Path], tmp_path: Path) -> None:
    _server, backup = made
    result = _restore(tmp_path / "target", backup)
    assert result.exit_code == 0, result.output
    assert "pack index(es) skipped" in result.output
    verify = CliRunner().invoke(app, ["registry", "verify", "-r", str(tmp_path / "target" / "registry"), "-q"])
    assert verify.exit_code == 3 and "missing-chunk" in verify.output and "tiny-llm:1" in verify.output
