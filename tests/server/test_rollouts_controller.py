"""The rollout controller in a real server process: canary success, failure with automatic
rollback, undo, pause/resume/promote/abort, over real HTTP, on SQLite and PostgreSQL.
The agents are played by the test (tests/server/rollout_fleet.py): desired state in,
health reports out, exactly as the site agent does it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.services.client import ApiError, Client
from fleetyard.services.db import Database
from fleetyard.services.events import list_events
from tests.server.conftest import BACKENDS, ServerProcess
from tests.server.rollout_fleet import FakeAgents, chat_sites, fleet, push_versions

TERMINAL = ("succeeded", "rolled_back", "aborted")


def _cli(server: ServerProcess, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {"FLEETYARD_SERVER": server.url, "FLEETYARD_TOKEN": token or server.admin_token, "COLUMNS": "200"}
    out = CliRunner().invoke(app, list(args), env=env)
    return out.exit_code, out.stdout, out.stderr


def _events(server: ServerProcess, db: str | None) -> list[str]:
    database = Database(db or f"sqlite:///{server.data / 'fleetyard.db'}")
    try:
        with database.session() as s:
            return [f"{e.kind} {e.message}" for e in list_events(s, kind="rollout.", limit=1000)]
    finally:
        database.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_canary_succeeds_then_a_bad_version_rolls_back_then_undo(
        backend: str, new_database: Callable[[str], str | None], server_factory: Callable[..., ServerProcess],
        tmp_path: Path) -> None:
    db = new_database(backend)
    server = server_factory(db, FLEETYARD_TICK_INTERVAL="0.2")
    push_versions(server, tmp_path, ["1", "2", "3"])
    with server.client() as api:
        api.apply(fleet("tiny-llm:1"))
        sites = chat_sites(api)
        assert len(sites) >= 3
        agents = FakeAgents(api, bad={"tiny-llm:3"})
        first = agents.until(lambda r: r.state == "succeeded", "the first version recorded")
        assert (first.from_, first.to, first.change) == (None, "tiny-llm:1", "first version tiny-llm:1")

        api.apply(fleet("tiny-llm:2"))
        ok = agents.until(lambda r: r.to == "tiny-llm:2" and r.state in TERMINAL, "the canary of tiny-llm:2 ended")
        assert ok.state == "succeeded" and ok.from_ == "tiny-llm:1", ok
        assert [w.state for w in ok.waves] == ["succeeded", "succeeded"]
        assert len(ok.waves[0].sites) == 1 and sorted(ok.waves[0].sites + ok.waves[1].sites) == sites
        rps = {s: sum(r.rps for r in api.plan().routes if r.workload == "chat" and r.site == s) for s in sites}
        canary = ok.waves[0].sites[0]
        assert min((v, s) for s, v in rps.items())[1] == canary  # least traffic first, ties by name
        assert canary in ok.waves[0].why and "least traffic" in ok.waves[0].why
        agents.beat()
        assert {s: agents.chat_model(s) for s in sites} == dict.fromkeys(sites, "tiny-llm:2")
        assert ("tiny-llm:1",) in agents.kept["tiny-llm:2"] and agents.listed_kept  # the old version was kept

        api.apply(fleet("tiny-llm:3", deadline_s=3))
        bad = agents.until(lambda r: r.to == "tiny-llm:3" and r.state in TERMINAL, "the canary of tiny-llm:3 ended")
        assert bad.state == "rolled_back", bad
        assert [w.state for w in bad.waves] == ["rolled_back", "pending"]
        site = bad.waves[0].sites[0]
        assert bad.reason is not None and re.fullmatch(
            rf"{site}: 0/\d+ replicas healthy after \d+ s: GET /healthz returned 500", bad.reason), bad.reason
        assert agents.seen["tiny-llm:3"] == {site}  # the bad version never ran outside wave 1
        assert agents.kept["tiny-llm:3"] == {("tiny-llm:2",)}
        agents.beat()
        assert {s: agents.chat_model(s) for s in sites} == dict.fromkeys(sites, "tiny-llm:2")

        code, out, _ = _cli(server, "rollout", "status", "chat", "--format", "json")
        assert code == 0
        doc = json.loads(out)
        assert {k: doc[k] for k in ("workload", "from", "to", "state")} == {
            "workload": "chat", "from": "tiny-llm:2", "to": "tiny-llm:3", "state": "rolled_back"}
        assert doc["reason"] == bad.reason
        assert [{k: w[k] for k in ("index", "sites", "state")} for w in doc["waves"]] == [
            {"index": 0, "sites": [site], "state": "rolled_back"},
            {"index": 1, "sites": bad.waves[1].sites, "state": "pending"}]
        code, out, _ = _cli(server, "rollout", "status")
        assert code == 0 and "chat" in out and "rolled_back" in out
        code, out, _ = _cli(server, "rollout", "status", "chat", "--watch", "--format", "json")
        assert code == 3 and json.loads(out)["state"] == "rolled_back"  # watched to the end: a failure

        code, _, err = _cli(server, "rollout", "promote", "chat")
        assert code == 2 and "cannot promote the rollout of chat tiny-llm:2 -> tiny-llm:3: it is rolled_back" in err
        code, _, err = _cli(server, "rollout", "undo", "chat")
        assert code == 2 and "no previous version to go back to" in err and "--to REF" in err
        code, _, err = _cli(server, "rollout", "undo", "chat", "--to", "tiny-llm:9")
        assert code == 2 and "model tiny-llm:9 is not in the registry" in err

        code, out, err = _cli(server, "rollout", "undo", "chat", "--to", "tiny-llm:1")
        assert code == 0, err
        undone = agents.until(lambda r: r.cause == "undo" and r.state in TERMINAL, "the undo finished")
        assert (undone.state, undone.from_, undone.to) == ("succeeded", "tiny-llm:2", "tiny-llm:1")
        agents.beat()
        assert {s: agents.chat_model(s) for s in sites} == dict.fromkeys(sites, "tiny-llm:1")
        audit = [(e.action, e.target) for e in api.audit()]
        assert ("rollout.undo", "Workload/chat") in audit

    events = _events(server, db)
    kinds = [e.split()[0] for e in events]
    for kind in ("rollout.started", "rollout.wave_started", "rollout.wave_baked", "rollout.wave_failed",
                 "rollout.rolled_back", "rollout.succeeded"):
        assert kind in kinds
    assert any(e.startswith("rollout.rolled_back chat: back to tiny-llm:2") and "GET /healthz returned 500" in e
               for e in events)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pause_resume_promote_abort_and_clear_refusals(
        backend: str, new_database: Callable[[str], str | None], server_factory: Callable[..., ServerProcess],
        tmp_path: Path) -> None:
    server = server_factory(new_database(backend), FLEETYARD_TICK_INTERVAL="0.2")
    push_versions(server, tmp_path, ["1", "2", "3"])
    with server.client() as api:
        code, _, err = _cli(server, "rollout", "pause", "chat")
        assert code == 2 and "no Workload named 'chat'" in err
        api.apply(fleet("tiny-llm:1"))
        sites = chat_sites(api)
        agents = FakeAgents(api)
        agents.until(lambda r: r.state == "succeeded", "the first version recorded")
        viewer = Client(server.url, api.create_token("viewer").token)
        assert viewer.rollout("chat").to == "tiny-llm:1"
        with pytest.raises(ApiError) as denied:
            viewer.rollout_action("chat", "pause")
        assert denied.value.status == 403

        api.apply(fleet("tiny-llm:2", bake_s=3600))
        agents.until(lambda r: r.to == "tiny-llm:2", "the rollout of tiny-llm:2 started")
        paused = api.rollout_action("chat", "pause")
        assert paused.state == "paused" and (paused.reason or "").startswith("paused by ")
        baking = agents.until(lambda r: r.waves[0].state == "baking", "wave 0 baking while paused")
        assert baking.state == "paused" and baking.waves[1].state == "pending"
        resumed = api.rollout_action("chat", "resume")
        assert resumed.state == "progressing"
        promoted = api.rollout_action("chat", "promote")
        assert promoted.state == "succeeded" and [w.state for w in promoted.waves] == ["succeeded", "succeeded"]
        assert "promoted by" in (promoted.reason or "")
        agents.beat()
        assert {s: agents.chat_model(s) for s in sites} == dict.fromkeys(sites, "tiny-llm:2")
        code, _, err = _cli(server, "rollout", "resume", "chat")
        assert code == 2 and "cannot resume the rollout of chat tiny-llm:1 -> tiny-llm:2: it is succeeded" in err

        undo = api.rollout_action("chat", "undo")  # the previous version, fleet-wide
        assert (undo.from_, undo.to, undo.cause, len(undo.waves)) == ("tiny-llm:2", "tiny-llm:1", "undo", 1)
        agents.until(lambda r: r.id == undo.id and r.state == "succeeded", "the undo finished")
        agents.beat()
        assert {s: agents.chat_model(s) for s in sites} == dict.fromkeys(sites, "tiny-llm:1")

        api.apply(fleet("tiny-llm:3", bake_s=3600))
        started = agents.until(lambda r: r.to == "tiny-llm:3", "the rollout of tiny-llm:3 started")
        assert started.from_ == "tiny-llm:1"  # from the pinned version, not from the spec's old one
        code, out, err = _cli(server, "rollout", "abort", "chat", "--format", "json")
        assert code == 0, err
        assert json.loads(out)["state"] == "aborted"
        agents.beat()
        assert {s: agents.chat_model(s) for s in sites} == dict.fromkeys(sites, "tiny-llm:1")
        code, _, err = _cli(server, "rollout", "abort", "chat")
        assert code == 2 and "it is aborted" in err
        code, _, err = _cli(server, "rollout", "status", "nope")
        assert code == 2 and "no Workload named 'nope'" in err
        code, _, _ = _cli(server, "rollout", "status", "chat", "--watch")
        assert code == 3  # aborted
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        bad = httpx.post(f"{server.url}/api/v1/rollouts/chat/explode", headers=headers, timeout=30)
        assert bad.status_code == 422 and bad.json()["problems"][0]["path"] == "path.action"
        bad = httpx.post(f"{server.url}/api/v1/rollouts/chat/undo", json={"to": 5}, headers=headers, timeout=30)
        assert bad.status_code == 422 and bad.json()["problems"][0]["path"] == "body.to", bad.text
        bad = httpx.post(f"{server.url}/api/v1/rollouts/chat/pause", json={"to": "tiny-llm:1"}, headers=headers,
                         timeout=30)
        assert bad.status_code == 422 and bad.json()["detail"] == "`to` is only for undo, not for pause"
        assert api.rollout("chat").state == "aborted"  # nothing changed
        actions = [e.action for e in api.audit()]
        for a in ("rollout.pause", "rollout.resume", "rollout.promote", "rollout.undo", "rollout.abort"):
            assert a in actions
