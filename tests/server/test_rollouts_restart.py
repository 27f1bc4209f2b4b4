"""A rollout survives its server: a restart mid-rollout resumes the same rollout where it
was, and two servers driving one database act once (one event per transition)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetyard.services.client import Client
from fleetyard.services.db import Database
from fleetyard.services.events import list_events
from tests.server.conftest import BACKENDS, ServerProcess
from tests.server.rollout_fleet import FakeAgents, fleet, push_versions

TERMINAL = ("succeeded", "rolled_back", "aborted")


@pytest.mark.parametrize("backend", BACKENDS)
def test_restart_mid_rollout_resumes_and_two_servers_act_once(
        backend: str, new_database: Callable[[str], str | None], server_factory: Callable[..., ServerProcess],
        tmp_path: Path) -> None:
    db = new_database(backend)
    first = server_factory(db, "a", FLEETYARD_TICK_INTERVAL="0.2")
    url = db or f"sqlite:///{first.data / 'fleetyard.db'}"
    push_versions(first, tmp_path, ["1", "2"])
    with first.client() as api:
        api.apply(fleet("tiny-llm:1"))
        agents = FakeAgents(api)
        agents.until(lambda r: r.state == "succeeded", "the first version recorded")
        api.apply(fleet("tiny-llm:2", bake_s=3))
        before = agents.until(lambda r: r.to == "tiny-llm:2" and r.waves[0].state == "baking", "wave 0 baking")

    first.stop()
    first.start()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "registry").symlink_to(first.data / "registry")  # one registry, one database
    second = server_factory(url, "b", FLEETYARD_TICK_INTERVAL="0.2")
    with first.client() as api, Client(second.url, first.admin_token, timeout=60) as other:
        after = api.rollout("chat")
        assert after.id == before.id and after.waves[0].started_at == before.waves[0].started_at
        assert after.state == "progressing"
        assert other.rollout("chat").id == before.id
        done = FakeAgents(other).until(lambda r: r.state in TERMINAL, "the rollout finished after the restart")
        assert done.id == before.id and done.state == "succeeded"
        assert [w.state for w in done.waves] == ["succeeded", "succeeded"]

    database = Database(url)
    try:
        with database.session() as s:
            events = [e for e in list_events(s, kind="rollout.", limit=1000)
                      if e.data and e.data.get("rollout") == before.id]
    finally:
        database.dispose()
    counts = Counter(e.kind for e in events)
    assert counts == {"rollout.started": 1, "rollout.wave_started": 2, "rollout.wave_baked": 2,
                      "rollout.succeeded": 1}, [f"{e.kind}: {e.message}" for e in events]
