"""`fleetyard describe` against a real server (SQLite and PostgreSQL): spec, placement with
reasons, capacity, status from a heartbeat, events; -o json and yaml carry the same data."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from fleetyard.services.wire import Replicas, SiteReport, WorkloadStatus
from tests.cli_describe.helpers import run
from tests.server.conftest import FLEET, ServerProcess


def _report(server: ServerProcess) -> None:
    with server.client() as api:
        api.report(SiteReport(site="par-1", agent_version="describe-test", revision=1, workloads=[
            WorkloadStatus(name="chat-eu", model="tiny-llm:1", replicas=Replicas(desired=1, running=1, healthy=1))]))


def test_describe_workload(server: ServerProcess) -> None:
    _report(server)
    with server.client() as api:
        plan = api.plan()
    code, out, err = run(server, "describe", "workload", "chat-eu", "-o", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["kind"] == "Workload" and d["name"] == "chat-eu" and d["plan_revision"] == plan.revision
    assert d["spec"]["spec"]["latency_slo_ms"] == 40
    mine = sorted((a.site, a.gpu_sku, a.replicas) for a in plan.assignments if a.workload == "chat-eu")
    assert sorted((a["site"], a["gpu_sku"], a["replicas"]) for a in d["placement"]["assignments"]) == mine
    assert d["placement"]["state"] == "placed" and "SLO" in d["placement"]["why"]
    assert {r["site"] for r in d["placement"]["routes"]} <= {m[0] for m in mine}
    par = next(s for s in d["status"]["sites"] if s["site"] == "par-1")
    assert par["healthy"] == 1 and par["state"] == "ok" and par["heartbeat_age_s"] >= 0
    assert isinstance(d["events"], list)
    code, out, _ = run(server, "describe", "workload", "chat-eu")
    assert code == 0
    for section in ("Name:  chat-eu", "Spec:", "latency_slo_ms: 40", "Placement:", "Status:", "Events:"):
        assert section in out, section
    assert "1 running, 1 healthy" in out and "par-1" in out


def test_describe_site_capacity(server: ServerProcess) -> None:
    _report(server)
    with server.client() as api:
        plan = api.plan()
    usage = next(s for s in plan.sites if s.site == "par-1")
    code, out, _ = run(server, "describe", "site", "par-1", "-o", "yaml")
    d = yaml.safe_load(out)
    assert code == 0 and d["kind"] == "Site" and d["spec"]["spec"]["country"] == "FR"
    gpus = d["placement"]["capacity"]["gpus"]["L40S"]
    assert gpus == {"used": usage.gpus_used.get("L40S", 0), "total": 8, "free": 8 - usage.gpus_used.get("L40S", 0)}
    assert sum(w["replicas"] for w in d["placement"]["workloads"]) == sum(
        a.replicas for a in plan.assignments if a.site == "par-1")
    assert d["placement"]["capacity"]["it_kw"]["total"] == 20
    assert d["status"]["agent_version"] == "describe-test" and d["status"]["state"] == "ok"
    code, out, _ = run(server, "describe", "site", "sin-1")
    assert code == 0 and "Capacity" in out and "GPU L40S" in out and "never reported" in out


def test_describe_unplaced_workload_gives_the_reasons(server_factory: Callable[..., ServerProcess],
                                                      tmp_path: Path) -> None:
    server = server_factory()
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("""apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec: {location: {lat: 50.11, lon: 8.68}}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1}
spec:
  type: small-dc
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus: [{sku: L40S, count: 2}]
  power: {it_capacity_kw: 20, pue: 1.3}
  energy: {price_per_kwh: 0.19, carbon_g_per_kwh: 380}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: train-big}
spec:
  type: training
  model: tiny-llm:1
  priority: 10
  replica: {gpus: 8}
  replicas: {min: 1, max: 1}
""")
    code, _, err = run(server, "apply", "-f", str(fleet))
    assert code == 0, err
    code, out, err = run(server, "describe", "workload", "train-big", "-o", "json")
    d = json.loads(out)
    assert code == 0 and d["placement"]["state"] == "unplaced" and d["placement"]["assignments"] == []
    assert d["placement"]["unplaced"]["replicas"] == 1 and d["placement"]["unplaced"]["reasons"]
    code, out, _ = run(server, "describe", "workload", "train-big")
    assert "Unplaced: 1 replica(s)" in out


def test_wrong_kind_name_or_format_is_one_line_exit_2(server: ServerProcess) -> None:
    code, _, err = run(server, "describe", "workload", "chat-e")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "did you mean 'chat-eu'" in err
    code, _, err = run(server, "describe", "sites", "par1")
    assert code == 2 and "no site named 'par1' (did you mean 'par-1'?)" in err
    code, _, err = run(server, "describe", "workloda", "chat-eu")
    assert code == 2 and "expected site or workload (did you mean 'workload'?)" in err
    code, _, err = run(server, "describe", "site", "par-1", "-o", "xml")
    assert code == 2 and "--format: expected one of table, wide, json, yaml" in err


def test_describe_site_shows_its_events_and_why_it_is_unavailable(
        server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(FLEETYARD_FAILOVER="true", FLEETYARD_FAILOVER_GRACE="1", FLEETYARD_TICK_INTERVAL="0.2",
                            FLEETYARD_HEARTBEAT_INTERVAL="0.2")
    code, _, err = run(server, "apply", "-f", str(FLEET))
    assert code == 0, err
    with server.client() as api:
        api.report(SiteReport(site="fra-1", agent_version="describe-test", revision=1))  # then silence
        deadline = time.monotonic() + 60
        while not api.events(kind="site.down", subject="fra-1"):
            assert time.monotonic() < deadline, "fra-1 was not marked down within 60 s"
            time.sleep(0.2)
    code, out, _ = run(server, "describe", "site", "fra-1", "-o", "json")
    d = json.loads(out)
    assert code == 0 and any(e["kind"] == "site.down" for e in d["events"])
    assert d["status"]["state"].startswith("unavailable")
    code, out, _ = run(server, "describe", "site", "fra-1")
    assert "site.down" in out and "State: unavailable" in out
