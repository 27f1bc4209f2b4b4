"""Desired state per site, relay sources nearest first, heartbeats, status and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.registry import push
from fleetyard.services.client import ApiError, Client
from fleetyard.services.http_backend import open_remote_store
from fleetyard.services.wire import ModelStatus, Replicas, SiteReport, WorkloadStatus
from tests.server.conftest import ServerProcess
from tests.server.models import change_one_shard, write_model


def _agent(server: ServerProcess, site: str) -> Client:
    with server.client() as api:
        return Client(server.url, api.create_token("agent", site).token)


def _report(site: str, ref: str, state: str, peer: str | None, **extra: object) -> SiteReport:
    return SiteReport(site=site, agent_version="test-1", revision=1, peer_url=peer,
                      models=[ModelStatus(ref=ref, state=state, bytes_fetched=1000, bytes_needed=4000)],  # type: ignore[arg-type]
                      active={ref.split(":")[0]: ref} if state == "active" else {}, **extra)  # type: ignore[arg-type]


def test_desired_state_relay_and_status(server: ServerProcess, tmp_path: Path) -> None:
    fra = _agent(server, "fra-1")
    with server.client() as api:
        plan = api.plan()
    chat_at_fra = sum(a.replicas for a in plan.assignments if a.site == "fra-1" and a.workload == "chat-eu")
    batch_site = next(a.site for a in plan.assignments if a.workload == "embed-batch")

    before = fra.desired("fra-1")  # nothing pushed yet: a clear problem, no model
    assert before.models == [] and any("tiny-llm:1" in p and "not in the registry" in p for p in before.problems)
    w = {x.name: x for x in before.workloads}["chat-eu"]
    assert (w.replicas, w.gpu_sku, w.gpus_per_replica) == (chat_at_fra, "L40S", 1)
    assert w.command == ["python", "-c", "import time; time.sleep(3600)"] and w.env == {"MODE": "chat"}
    assert before.sync_windows == ["01:00-05:00"] and before.timezone == "Europe/Berlin"
    assert before.revision == plan.revision

    store = open_remote_store(server.url, server.admin_token)
    model = write_model(tmp_path / "m", seed=21)
    push(store, model, "tiny-llm", "1", workers=1)
    change_one_shard(model, 22)
    push(store, model, "tiny-llm", "2", workers=1, alias="prod")

    d = fra.desired("fra-1")
    assert [m.ref for m in d.models] == ["tiny-llm:1"] and d.problems == []
    assert [(s.kind, s.url) for s in d.models[0].sources] == [("center", server.url)]
    batch = _agent(server, batch_site).desired(batch_site)  # alias resolved after the apply
    m = {x.ref: x for x in batch.models}["tiny-llm:2"]
    assert m.requested == "tiny-llm@prod" and m.version == "2"

    peers = {s: _agent(server, s) for s in ("par-1", "ams-1", "sin-1")}
    peers["sin-1"].report(_report("sin-1", "tiny-llm:1", "active", "http://sin-1.example:7100"))
    peers["par-1"].report(_report("par-1", "tiny-llm:1", "synced", "http://par-1.example:7100"))
    peers["ams-1"].report(_report("ams-1", "tiny-llm:1", "syncing", "http://ams-1.example:7100"))
    sources = fra.desired("fra-1").models[0].sources
    assert [(s.kind, s.site) for s in sources] == [("peer", "par-1"), ("peer", "sin-1"), ("center", None)]
    assert sources[0].latency_ms is not None and sources[1].latency_ms is not None
    assert sources[0].latency_ms < sources[1].latency_ms

    peers["ams-1"].report(_report("ams-1", "tiny-llm:1", "synced", "http://ams-1.example:7100"))
    sources = fra.desired("fra-1").models[0].sources
    assert [s.site for s in sources] == ["ams-1", "par-1", "sin-1", None]  # Amsterdam is nearer than Paris
    assert sources[0].url == "http://ams-1.example:7100"
    peers["par-1"].report(_report("par-1", "tiny-llm:1", "active", None))  # stopped relaying
    assert [s.site for s in fra.desired("fra-1").models[0].sources] == ["ams-1", "sin-1", None]

    fra.report(_report("fra-1", "tiny-llm:1", "syncing", None,
                       workloads=[WorkloadStatus(name="chat-eu", model="tiny-llm:1",
                                                 replicas=Replicas(desired=chat_at_fra, running=1, healthy=0))]))
    with server.client() as api:
        st = {s.site: s for s in api.status().sites}
    assert st["fra-1"].last_heartbeat is not None and not st["fra-1"].stale
    assert st["fra-1"].models[0].state == "syncing" and st["fra-1"].bytes_fetched == 1000
    assert st["fra-1"].sync_progress == 0.25
    assert (st["fra-1"].replicas.desired, st["fra-1"].replicas.running) == (chat_at_fra, 1)
    assert st["sin-1"].replicas.desired == 0 and st["sin-1"].active == {"tiny-llm": "tiny-llm:1"}

    env = {"FLEETYARD_SERVER": server.url, "FLEETYARD_TOKEN": server.admin_token, "COLUMNS": "200"}
    out = CliRunner().invoke(app, ["status", "--format", "json"], env=env)
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    fra_doc = next(s for s in doc["sites"] if s["site"] == "fra-1")
    assert {"site", "last_heartbeat", "models", "replicas"} <= set(fra_doc)
    assert fra_doc["models"][0] == {"ref": "tiny-llm:1", "state": "syncing", "bytes_fetched": 1000,
                                    "bytes_needed": 4000, "bytes_by_source": {}, "error": None}
    assert set(fra_doc["replicas"]) == {"desired", "running", "healthy"}
    table = CliRunner().invoke(app, ["status", "-o", "wide"], env=env)  # wide: every model and its state
    assert table.exit_code == 0 and "fra-1" in table.stdout and "syncing" in table.stdout

    with server.client() as api:
        metrics = api.metrics()
    assert 'fleetyard_heartbeats_total{site="fra-1"} 1.0' in metrics
    assert 'fleetyard_site_last_heartbeat_timestamp_seconds{site="fra-1"}' in metrics
    assert f'fleetyard_replicas{{site="fra-1",state="desired"}} {float(chat_at_fra)}' in metrics
    assert "fleetyard_sites 4.0" in metrics and "fleetyard_plan_revision" in metrics
    assert 'fleetyard_site_sync_lag_seconds{site="sin-1"} 0.0' in metrics
    assert 'fleetyard_registry_bytes_served_total{kind="packs"}' in metrics
    assert ('fleetyard_http_requests_total{app_name="fleetyard",method="PUT",path="/api/v1/sites/{site}/status",'
            'status_code="204"}') in metrics


def test_desired_of_unknown_site_is_404(server: ServerProcess) -> None:
    with server.client() as api, pytest.raises(ApiError) as e:
        api.desired("atlantis-1")
    assert e.value.status == 404
