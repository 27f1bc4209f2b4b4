"""The server killed with SIGKILL: nothing acknowledged is lost, nothing half-applied appears.

For each database: apply, heartbeat, create a token and push a model, SIGKILL right
after the answers, restart, and find all of it. Then start a big apply (thousands of
resources) and SIGKILL the server while its write transaction is open - detected
from outside: PostgreSQL's `pg_stat_activity`, SQLite's write lock - restart, and
find the fleet either fully applied or not at all. (A single long transaction of
3,000 resources; the seeded campaign of kills at random points, many per database, is
tests/robustness_api/test_kill_apply.py and benchmarks/fault_bench.py.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetyard.registry import push
from fleetyard.services.client import ApiError, Client
from fleetyard.services.http_backend import open_remote_store
from fleetyard.services.wire import SiteReport, SpecFile
from tests.server.conftest import BACKENDS, ServerProcess, fleet_files
from tests.server.models import write_model
from tests.server.writeprobe import write_probe

BIG = 3000


def _regions(tag: str, n: int = BIG) -> SpecFile:
    docs = "".join(
        f"---\napiVersion: fleetyard/v1\nkind: Region\nmetadata: {{name: {tag}-{i}}}\n"
        f"spec:\n  location: {{lat: {(i % 170) - 85}, lon: {(i * 7) % 360 - 180}}}\n" for i in range(n))
    return SpecFile(name=f"{tag}.yaml", content=docs)


def _kill_during_write(server: ServerProcess, db: str | None, files: list[SpecFile]) -> tuple[str, bool]:
    """Send a big apply, SIGKILL the server once its write transaction is open."""
    probe = write_probe(server, db, ("INSERT INTO resources", "INSERT INTO audit_log", "UPDATE fleet_state"))
    outcome: list[str] = []

    def send() -> None:
        try:
            with Client(server.url, server.admin_token, timeout=120) as api:
                api.apply(files)
            outcome.append("answered")
        except ApiError as exc:
            outcome.append(f"failed: {exc.message}")

    t = threading.Thread(target=send)
    t.start()
    deadline = time.monotonic() + 120
    seen = False
    while t.is_alive() and time.monotonic() < deadline:
        if probe():
            seen = True
            break
        time.sleep(0.002)
    server.kill()
    t.join(timeout=60)
    return (outcome[0] if outcome else "no answer"), seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_loses_nothing_acknowledged_and_never_half_applies(
        backend: str, new_database: Callable[[str], str | None], server_factory: Callable[..., ServerProcess],
        tmp_path: Path) -> None:
    db = new_database(backend)
    server = server_factory(db)
    admin = server.admin_token
    with server.client() as api:
        api.apply(fleet_files())
        applied = api.apply([_regions("acked", 5)])
        agent = api.create_token("agent", "fra-1")
        Client(server.url, agent.token).report(SiteReport(site="fra-1", agent_version="t", revision=2))
    push(open_remote_store(server.url, admin), write_model(tmp_path / "m", seed=3, shards=1), "kill-llm", "1",
         workers=1)
    server.kill()  # right after the last acknowledgement

    server.start()
    with server.client(admin) as api:
        assert api.plan().revision == applied.revision == 2
        assert {r.name for r in api.resources("regions")} >= {f"acked-{i}" for i in range(5)}
        assert api.status().sites[0].last_heartbeat is not None
        assert [m.ref for m in api.models()] == ["kill-llm:1"]
        assert Client(server.url, agent.token).desired("fra-1").revision == 2
        regions_before = len(api.resources("regions"))
        audit_before = api.audit(1)[0].id
        revision_before = 2

    outcomes: list[str] = []
    for attempt in range(1):
        answer, seen = _kill_during_write(server, db, [*fleet_files(), _regions(f"big{attempt}")])
        assert seen or answer == "answered"  # killed inside the write transaction, or it was already done
        server.start()
        with server.client(admin) as api:
            regions = len(api.resources("regions"))
            revision = api.plan().revision
            audit = api.audit(BIG + 10)
        fresh = [e for e in audit if e.id > audit_before]
        if regions == regions_before:  # not applied at all
            assert (revision, fresh, answer != "answered") == (revision_before, [], True)
        else:  # fully applied
            assert (regions, revision) == (regions_before + BIG, revision_before + 1)
            assert len([e for e in fresh if e.action == "apply"]) == BIG and fresh[0].action == "plan"
            assert fresh[0].after["revision"] == revision  # type: ignore[index]
        outcomes.append("applied" if regions != regions_before else "not applied")
        regions_before, revision_before = regions, revision
        audit_before = fresh[0].id if fresh else audit_before
    print(f"{backend}: killed mid-apply: {outcomes}")
