"""Against a real server on SQLite and PostgreSQL: the apply diff (also on a dry run), the plan
history (list, an old revision, paging, bad and unknown revisions) and `plan diff`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from fleetyard.services.client import read_spec_files
from tests.cli_describe.helpers import edited_fleet, run
from tests.server.conftest import FLEET, ServerProcess


def _apply(server: ServerProcess, folder: Path) -> int:
    files, problems = read_spec_files([folder])
    assert problems == []
    with server.client() as api:
        return api.apply(files).revision


def test_apply_shows_a_field_diff_and_a_dry_run_stores_nothing(server: ServerProcess, tmp_path: Path) -> None:
    edited = edited_fleet(tmp_path)
    with server.client() as api:
        before = api.plan().revision
        code, out, err = run(server, "apply", "-f", str(edited), "--dry-run")
        assert code == 0, err
        assert "~ Workload/chat-eu  updated" in out and "spec.replicas.min: 3 -> 5" in out
        assert "spec.env.MODE: chat -> chat2" in out and "spec.env.API_TOKEN: (none) -> ***" in out
        assert "hunter2" not in out and "nothing was stored" in out
        assert api.plan().revision == before
        assert api.resource("workloads", "chat-eu").document["spec"]["replicas"]["min"] == 3
        code, out, _ = run(server, "apply", "-f", str(edited), "-o", "json")
        result = json.loads(out)
        assert code == 0 and result["revision"] == before + 1 and "hunter2" not in out
        assert result["diff"] == [{"kind": "Workload", "name": "chat-eu", "action": "updated", "fields": [
            {"path": "spec.replicas.min", "before": "3", "after": "5"},
            {"path": "spec.env.MODE", "before": "chat", "after": "chat2"},
            {"path": "spec.env.API_TOKEN", "before": None, "after": "***"}]}]
        code, out, _ = run(server, "apply", "-f", str(FLEET))
        assert code == 0 and "spec.replicas.min: 5 -> 3" in out and "spec.env.API_TOKEN: *** -> (none)" in out
        code, out, _ = run(server, "apply", "-f", str(FLEET))
        assert code == 0 and "no resource changes" in out
        code, out, _ = run(server, "delete", "site", "sin-1", "--dry-run")
        assert code == 0 and "- Site/sin-1  deleted" in out
        assert api.resource("sites", "sin-1").name == "sin-1"


def test_revisions_an_old_plan_and_plan_diff(server: ServerProcess, tmp_path: Path) -> None:
    with server.client() as api:
        old = api.plan().revision
        new = _apply(server, edited_fleet(tmp_path, min_replicas=6))
        assert new == old + 1
        revs = api.plan_revisions(limit=2)
        assert [r.revision for r in revs] == [new, old] and revs[0].current and not revs[1].current
        assert revs[0].action == "apply" and revs[0].changed == ["Workload/chat-eu"]
        assert revs[0].actor.startswith("tok_") and revs[0].replicas_placed > revs[1].replicas_placed
        assert [r.revision for r in api.plan_revisions(limit=1, offset=1)] == [old]
        assert api.plan(old).revision == old and api.plan().revision == new
    code, out, _ = run(server, "get", "plan", "--revision", str(old), "-o", "json")
    assert code == 0 and json.loads(out)["revision"] == old
    code, out, _ = run(server, "get", "revisions")
    assert code == 0 and f"{new} *" in out and "Workload/chat-eu" in out
    code, out, _ = run(server, "plan", "diff", str(old), str(new), "-o", "json")
    diff = json.loads(out)
    assert code == 0 and diff["before"] == f"revision {old}" and diff["changes"]
    assert {c["workload"] for c in diff["changes"]} == {"chat-eu"}
    assert sum(c["after"] - c["before"] for c in diff["changes"]) == 3  # min 3 -> 6 replicas
    code, out, _ = run(server, "plan", "diff", str(old), str(new))
    assert code == 0 and "scaled up from 3 to 6 replicas" in out
    # a saved plan file on one side, the same revision on the other: no change
    saved = tmp_path / "plan.json"
    saved.write_text(run(server, "get", "plan", "-o", "json")[1])
    code, out, _ = run(server, "plan", "diff", str(saved), str(new))
    assert code == 0 and "no placement changes" in out
    _apply(server, FLEET)


def test_unknown_and_bad_revisions(server: ServerProcess) -> None:
    code, _, err = run(server, "get", "plan", "--revision", "99999")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no plan revision 99999: revisions 1 to" in err and "(404)" in err
    code, _, err = run(server, "plan", "diff", "1", "99999")
    assert code == 2 and "no plan revision 99999" in err
    code, _, err = run(server, "get", "plan", "--revision", "0")
    assert code == 2 and "--revision" in err
    code, _, err = run(server, "get", "sites", "--revision", "1")
    assert code == 2 and "only for 'get plan'" in err
    code, _, err = run(server, "plan", "diff", "1")
    assert code == 2 and "expected two plans" in err
    code, _, err = run(server, "plan", "diff", "1", "no-such.json")
    assert code == 2 and "no such file" in err
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    for query, words in (("revision=abc", "revision"), ("revision=0", "revision"), ("revision=-3", "revision")):
        r = httpx.get(f"{server.url}/api/v1/plan?{query}", headers=headers, timeout=30)
        assert r.status_code == 422 and words in r.text, (query, r.text)
    r = httpx.get(f"{server.url}/api/v1/plan?revision=77777", headers=headers, timeout=30)
    assert r.status_code == 404 and r.json()["detail"].startswith("no plan revision 77777")
    for query in ("limit=0", "limit=501", "offset=-1", "limit=x", "limt=5", "limit=1&limit=2"):
        r = httpx.get(f"{server.url}/api/v1/plan/revisions?{query}", headers=headers, timeout=30)
        assert r.status_code == 422, (query, r.text)
    assert httpx.get(f"{server.url}/api/v1/plan/revisions", timeout=30).status_code == 401
