"""A fleet with a canary workload, models in the registry, and fake agents that answer the
desired state with health reports over real HTTP, as the site agent would (PUT status)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetyard.registry import push
from fleetyard.services.client import ApiError, Client
from fleetyard.services.http_backend import open_remote_store
from fleetyard.services.wire import (
    DesiredState,
    Replicas,
    RolloutOut,
    SiteReport,
    SpecFile,
    WorkloadHealth,
    WorkloadStatus,
)
from tests.server.conftest import FLEET, ServerProcess
from tests.server.models import change_one_shard, write_model

SITES = ["fra-1", "par-1", "ams-1", "sin-1"]
DEADLINE = 120.0  # generous: the machine is shared; the assertions are on state, never on time


def workload(model: str, *, deadline_s: float = 60, auto_rollback: bool = True, bake_s: float = 2,
             env: str = "chat") -> SpecFile:
    return SpecFile(name="chat.yaml", content=f"""
apiVersion: fleetyard/v1
kind: Workload
metadata: {{name: chat}}
spec:
  type: inference
  model: {model}
  replica: {{gpus: 1, gpu_memory_gb: 24}}
  replicas: {{min: 3, max: 8}}
  demand: {{eu-central: 40, eu-west: 20}}
  rps_per_replica: 20
  latency_slo_ms: 40
  spread: {{min_sites: 3}}
  command: ["python", "-c", "import time; time.sleep(3600)"]
  env: {{MODE: {env}}}
  rollout:
    strategy: canary
    waves: [{{sites: 1}}, {{percent: 100}}]
    bake_s: {bake_s}
    health: {{probe: {{http: /healthz}}, min_healthy_ratio: 1.0, deadline_s: {deadline_s}}}
    auto_rollback: {str(auto_rollback).lower()}
""")


def base_files() -> list[SpecFile]:
    return [SpecFile(name=p.name, content=p.read_text()) for p in (FLEET / "regions.yaml", FLEET / "sites.yaml")]


def fleet(model: str, **kw: Any) -> list[SpecFile]:
    """The regions and sites of the test fleet, and `chat` on `model` (see `workload`)."""
    return [*base_files(), workload(model, **kw)]


def push_versions(server: ServerProcess, tmp: Path, versions: list[str]) -> None:
    store = open_remote_store(server.url, server.admin_token)
    folder = write_model(tmp / "model", seed=1, rows=64)
    for i, v in enumerate(versions):
        if i:
            change_one_shard(folder, 100 + i)
        push(store, folder, "tiny-llm", v, workers=1)


class FakeAgents:
    """Every site's agent, by hand: fetch the desired state, report health of `chat`.

    `bad` versions fail their probe (no replica ready, `GET /healthz returned 500`).
    `seen` records, per model, the sites whose desired state ever named it for chat."""

    def __init__(self, api: Client, bad: set[str] | None = None) -> None:
        self.api = api
        self.bad = bad or set()
        self.seen: dict[str, set[str]] = {}
        self.desired: dict[str, DesiredState] = {}
        self.kept: dict[str, set[tuple[str, ...]]] = {}  # model -> the keep lists sent with it
        self.listed_kept = True  # every kept version was also among the desired models

    def beat(self) -> None:
        for site in SITES:
            d = self.api.desired(site)
            self.desired[site] = d
            workloads = []
            for w in d.workloads:
                if w.name == "chat":
                    self.seen.setdefault(w.model, set()).add(site)
                    self.kept.setdefault(w.model, set()).add(tuple(w.keep))
                    refs = {m.ref for m in d.models}
                    self.listed_kept = self.listed_kept and set(w.keep) <= refs
                ok = w.model not in self.bad
                ready = w.replicas if ok else 0
                workloads.append(WorkloadStatus(
                    name=w.name, model=w.model,
                    replicas=Replicas(desired=w.replicas, running=w.replicas, healthy=ready),
                    health=WorkloadHealth(model=w.model, ready=ready, total=w.replicas,
                                          last_error=None if ok else "GET /healthz returned 500")))
            self.api.report(SiteReport(site=site, agent_version="fake-1", revision=d.revision, workloads=workloads))

    def chat_model(self, site: str) -> str | None:
        d = self.desired.get(site)
        w = next((x for x in d.workloads if x.name == "chat"), None) if d else None
        return w.model if w else None

    def until(self, done: Callable[[RolloutOut], bool], what: str, timeout: float = DEADLINE) -> RolloutOut:
        """Beat and poll the rollout of chat until `done` (bounded; fails with the last state)."""
        deadline = time.monotonic() + timeout
        last: RolloutOut | None = None
        while time.monotonic() < deadline:
            self.beat()
            try:
                last = self.api.rollout("chat")
            except ApiError as exc:  # no rollout before the controller's first tick
                if exc.status != 404:
                    raise
            else:
                if done(last):
                    return last
            time.sleep(0.2)
        raise AssertionError(f"not {what} within {timeout} s; last: {last.model_dump_json() if last else None}")


def chat_sites(api: Client) -> list[str]:
    return sorted({a.site for a in api.plan().assignments if a.workload == "chat" and a.replicas > 0})
