"""Rollouts end to end: the real server's rollout controller and real agents as processes on
loopback, SQLite and PostgreSQL. A version whose probe fails stops at its canary site and
comes back to the old one there; a good version goes everywhere, one wave after the other;
undo pins the previous version fleet-wide."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetyard.agent.localfleet import FleetError, LocalFleet, write_model
from fleetyard.services.client import ApiError
from fleetyard.services.wire import FleetStatus, RolloutOut
from tests.agent.rollout_site import REPLICA
from tests.server.conftest import BACKENDS, Postgres, postgres

__all__ = ["postgres"]

SITES = ["ams-1", "fra-1", "par-1"]
FLEET = """
apiVersion: fleetyard/v1
kind: Region
metadata: {{name: eu}}
spec: {{location: {{lat: 50.1, lon: 8.7}}}}
{sites}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {{name: chat}}
spec:
  type: inference
  model: {model}
  replica: {{gpus: 1, gpu_memory_gb: 16}}
  replicas: {{min: 3, max: 3}}
  demand: {{eu: 30}}
  rps_per_replica: 10
  latency_slo_ms: 50
  spread: {{min_sites: 3}}
  command: [{python}, "-c", {replica}]
  env: {{APP_OUT: {out}}}
  rollout:
    strategy: canary
    waves: [{{sites: 1}}, {{percent: 100}}]
    bake_s: 2
    health: {{probe: {{http: /healthz, timeout_s: 1, period_s: 0.5}}, deadline_s: 20}}
    auto_rollback: true
"""
SITE = """---
apiVersion: fleetyard/v1
kind: Site
metadata: {{name: {name}}}
spec:
  type: edge
  country: DE
  location: {{lat: 50.1, lon: 8.7}}
  gpus: [{{sku: L4, count: 2}}]
  power: {{it_capacity_kw: 2}}
  energy: {{price_per_kwh: 0.2, carbon_g_per_kwh: 300}}
"""


def _spec(folder: Path, model: str, out: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = FLEET.format(sites="".join(SITE.format(name=s) for s in SITES), model=model,
                        python=json.dumps(sys.executable), replica=json.dumps(REPLICA), out=json.dumps(str(out)))
    (folder / "fleet.yaml").write_text(text, encoding="utf-8")
    return folder


def _version(fleet: LocalFleet, n: int, healthz: int) -> None:
    folder = write_model(fleet.root / "models" / str(n), version=n, tensors=2, rows=32)
    (folder / "app.json").write_text(json.dumps({"healthz": healthz}))
    fleet.push(folder, "chat-llm", str(n))


def _follow(fleet: LocalFleet, to: str, seen: dict[str, set[str]], timeout: float = 120.0) -> RolloutOut:
    """Poll the rollout of chat to `to` until it ended, recording which models each site ran."""
    deadline = time.monotonic() + timeout
    last: RolloutOut | None = None
    while time.monotonic() < deadline:
        for s in fleet.status().sites:
            for w in s.workloads:
                if w.name == "chat":
                    seen.setdefault(w.model, set()).add(s.site)
                    if w.health is not None:
                        seen.setdefault(w.health.model, set()).add(s.site)
        try:
            last = fleet.client.rollout("chat")
        except ApiError as exc:
            if exc.status != 404:
                raise
        if last is not None and last.to == to and last.state in ("succeeded", "rolled_back", "aborted"):
            return last
        time.sleep(0.3)
    raise AssertionError(f"the rollout to {to} did not end in {timeout} s: {last}")


def _everywhere(ref: str) -> Callable[[FleetStatus], bool]:
    def ok(st: FleetStatus) -> bool:
        by = {s.site: s for s in st.sites}
        return all(any(w.name == "chat" and w.model == ref and w.replicas.healthy >= 1 for w in by[s].workloads)
                   for s in SITES if s in by)
    return ok


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", BACKENDS)
def test_canary_with_real_agents_rolls_back_a_failing_probe_then_succeeds_then_undo(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    db = None
    if backend == "postgres":
        pg: Postgres = request.getfixturevalue("postgres")
        db = pg.new_database()
    out = tmp_path / "app"
    out.mkdir()
    with LocalFleet(tmp_path / "fleet", heartbeat=0.5) as fleet:
        fleet.start_server(db=db, env={"FLEETYARD_TICK_INTERVAL": "0.3"})
        _version(fleet, 1, 200)
        _version(fleet, 2, 500)
        _version(fleet, 3, 200)
        fleet.apply(_spec(tmp_path / "spec", "chat-llm:1", out))
        for site in SITES:
            fleet.start_agent(site, relay=False)
        try:
            fleet.wait_for(_everywhere("chat-llm:1"), "chat-llm:1 healthy on every site", 120)

            seen: dict[str, set[str]] = {}
            fleet.apply(_spec(tmp_path / "spec", "chat-llm:2", out))
            bad = _follow(fleet, "chat-llm:2", seen)
            assert bad.state == "rolled_back", bad
            canary = bad.waves[0].sites[0]
            assert bad.reason is not None and re.fullmatch(
                rf"{canary}: 0/1 replicas healthy after \d+ s: GET /healthz returned 500", bad.reason), bad.reason
            assert seen["chat-llm:2"] == {canary}  # never outside wave 1
            fleet.wait_for(_everywhere("chat-llm:1"), "chat-llm:1 back on the canary", 120)

            fleet.apply(_spec(tmp_path / "spec", "chat-llm:3", out))
            good = _follow(fleet, "chat-llm:3", seen)
            assert good.state == "succeeded" and [w.state for w in good.waves] == ["succeeded", "succeeded"], good
            assert good.from_ == "chat-llm:1"
            fleet.wait_for(_everywhere("chat-llm:3"), "chat-llm:3 on every site", 120)

            undo = fleet.client.rollout_action("chat", "undo")
            assert (undo.from_, undo.to, undo.cause) == ("chat-llm:3", "chat-llm:1", "undo")
            fleet.wait_for(_everywhere("chat-llm:1"), "chat-llm:1 everywhere after undo", 120)
        except FleetError as exc:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(fleet.logs.iterdir()))
            raise AssertionError(f"{exc}\n{logs}") from None
