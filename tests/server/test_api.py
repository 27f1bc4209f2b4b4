"""Apply, get, delete and plan against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.services.client import ApiError
from fleetyard.services.wire import SpecFile
from fleetyard.spec import SpecError, load_fleet_sources
from tests.server.conftest import FLEET, ServerProcess, fleet_files

POLICY = """apiVersion: fleetyard/v1
kind: Policy
metadata: {name: eu-only}
spec:
  selector: {team: support}
  allowed: {countries: [DE, FR, NL]}
"""

BAD = """apiVersion: fleetyard/v1
kind: Workload
metadata: {name: broken}
spec:
  type: inference
  model: tiny-llm:1
  replica: {gpus: 0}
  demand: {mars-north: 10}
  rps_per_replica: 10
---
apiVersion: fleetyard/v1
kind: Sight
metadata: {name: typo}
"""


def test_apply_stored_everything(server: ServerProcess) -> None:
    with server.client() as api:
        sites = api.resources("sites")
        assert [s.name for s in sites] == ["fra-1", "par-1", "ams-1", "sin-1"]
        fra = api.resource("sites", "fra-1")
        assert fra.document["spec"]["sync_windows"] == ["01:00-05:00"]  # type: ignore[index]
        assert fra.source.endswith("fleet/sites.yaml")
        assert {w.name for w in api.resources("workloads")} == {"chat-eu", "embed-batch"}
        plan = api.plan()
        assert plan.revision >= 1
        placed = {(a.workload, a.site): a.replicas for a in plan.assignments}
        assert sum(n for (w, _), n in placed.items() if w == "chat-eu") >= 3
        assert plan.models == {"tiny-llm:1": None, "tiny-llm@prod": None} or plan.models["tiny-llm:1"]
        with pytest.raises(ApiError) as e:
            api.resource("sites", "nowhere")
        assert e.value.status == 404


def test_reapply_unchanged_keeps_the_revision(server: ServerProcess) -> None:
    with server.client() as api:
        before = api.plan().revision
        result = api.apply(fleet_files())
        assert {c.action for c in result.changes} == {"unchanged"}
        assert result.revision == before and result.plan_changes == []
        assert api.plan().revision == before


def test_invalid_apply_is_422_with_the_cli_words_and_stores_nothing(server: ServerProcess) -> None:
    files = [*fleet_files(), SpecFile(name="fleet/bad.yaml", content=BAD)]
    with server.client() as api:
        revision, audit_top = api.plan().revision, api.audit(1)[0].id
        with pytest.raises(ApiError) as e:
            api.apply(files)
        assert e.value.status == 422
        with pytest.raises(SpecError) as local:
            load_fleet_sources([(f.name, f.content) for f in files])
        assert [str(p) for p in local.value.problems] == [
            f"{p.file}:{p.line} {p.path}: {p.message}" if p.path else f"{p.file}:{p.line}: {p.message}"
            for p in e.value.problems]
        assert any("fleet/bad.yaml:7 spec.replica.gpus" in str(p) for p in local.value.problems)
        assert api.plan().revision == revision
        assert "broken" not in {w.name for w in api.resources("workloads")}
        assert api.audit(1)[0].id == audit_top


def test_cli_apply_prints_problems_exactly_like_validate(server: ServerProcess, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "bad"
    folder.mkdir()
    (folder / "bad.yaml").write_text(BAD)
    for f in FLEET.iterdir():
        (folder / f.name).write_text(f.read_text())
    runner = CliRunner()
    env = {"FLEETYARD_SERVER": server.url, "FLEETYARD_TOKEN": server.admin_token, "COLUMNS": "200"}
    applied = runner.invoke(app, ["apply", "-f", str(folder)], env=env)
    validated = runner.invoke(app, ["validate", str(folder)], env=env)
    assert applied.exit_code == validated.exit_code == 2
    assert applied.stderr.splitlines()[:-1] == validated.stderr.splitlines()[:-1]
    assert applied.stderr.splitlines()[-1].endswith("nothing was applied.")
    assert "Traceback" not in applied.stderr + applied.stdout


def test_dry_run_then_apply_then_delete(server: ServerProcess) -> None:
    files = fleet_files()
    bigger = [SpecFile(name=f.name, content=f.content.replace("replicas: {min: 3, max: 8}",
                                                                 "replicas: {min: 5, max: 8}")) for f in files]
    with server.client() as api:
        revision = api.plan().revision
        dry = api.apply(bigger, dry_run=True)
        assert dry.dry_run and dry.revision == revision
        assert next(c for c in dry.changes if c.action == "updated").name == "chat-eu"
        assert sum(p.after - p.before for p in dry.plan_changes if p.workload == "chat-eu") == 2
        assert api.plan().revision == revision
        doc = api.resource("workloads", "chat-eu").document
        assert doc["spec"]["replicas"]["min"] == 3  # type: ignore[index]

        done = api.apply(bigger)
        assert done.revision == revision + 1 and api.plan().revision == revision + 1
        assert api.resource("workloads", "chat-eu").document["spec"]["replicas"]["min"] == 5  # type: ignore[index]
        entry = next(e for e in api.audit(20) if e.target == "Workload/chat-eu")
        assert entry.action == "apply" and entry.actor.endswith("(admin)")
        assert entry.before["spec"]["replicas"]["min"] == 3  # type: ignore[index]
        assert entry.after["spec"]["replicas"]["min"] == 5  # type: ignore[index]

        api.apply([SpecFile(name="policy.yaml", content=POLICY)])
        assert [p.name for p in api.resources("policies")] == ["eu-only"]
        gone = api.delete("policy", "eu-only")
        assert [(c.kind, c.name, c.action) for c in gone.changes] == [("Policy", "eu-only", "deleted")]
        assert api.resources("policies") == []
        entry = api.audit(5)
        assert entry[0].action == "plan" and entry[1].action == "delete" and entry[1].target == "Policy/eu-only"
        assert entry[1].before["kind"] == "Policy" and entry[1].after is None  # type: ignore[index]

        with pytest.raises(ApiError) as e:  # the workloads need this region
            api.delete("regions", "eu-west")
        assert e.value.status == 422 and any("unknown region 'eu-west'" in p.message for p in e.value.problems)
        assert [r.name for r in api.resources("regions")] == ["eu-central", "eu-west"]
        api.apply(files)  # back to the fixture's fleet


def test_unknown_kind_and_bad_body(server: ServerProcess) -> None:
    import httpx

    with server.client() as api:
        with pytest.raises(ApiError) as e:
            api.resources("gadgets")
        assert e.value.status == 404 and "expected one of" in e.value.message
    r = httpx.post(f"{server.url}/api/v1/apply", json={"files": "nope"},
                   headers={"Authorization": f"Bearer {server.admin_token}"})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "body.files"


def test_openapi_is_served(server: ServerProcess) -> None:
    import httpx

    doc = httpx.get(f"{server.url}/openapi.json").json()
    assert "/api/v1/apply" in doc["paths"] and "/api/v1/registry/objects/{key}" in doc["paths"]
    body = doc["paths"]["/api/v1/sites/{site}/status"]["put"]["requestBody"]["content"]["application/json"]
    schema = doc["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert "agent_version" in schema["properties"]
    refs = set(re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs and refs <= set(doc["components"]["schemas"])  # every reference resolves
