"""Several servers on one PostgreSQL: one leader runs the background jobs; kill -9 the
leader mid-rollout and another takes over and finishes it, each transition once."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fleetyard.services.client import Client
from fleetyard.services.db import Database
from fleetyard.services.events import list_events
from tests.server.conftest import ServerProcess
from tests.server.rollout_fleet import FakeAgents, fleet, push_versions

pytestmark = pytest.mark.timeout(400)
DEADLINE = 90.0  # bounded waits; nothing is asserted about how fast
LEADER = re.compile(r"^fleetyard_server_leader (\S+)$", re.M)


def leading(server: ServerProcess, token: str) -> bool | None:
    """What the server's /metrics says of itself (None: not answering)."""
    try:
        r = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    except httpx.HTTPError:
        return None
    m = LEADER.search(r.text)
    return m is not None and float(m.group(1)) == 1.0


def one_leader(servers: list[ServerProcess], token: str) -> ServerProcess:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        states = [leading(s, token) for s in servers]
        if states.count(True) == 1 and None not in states:
            return servers[states.index(True)]
        time.sleep(0.2)
    raise AssertionError(f"not exactly one leader: {states}")


def test_one_leader_and_a_killed_leader_is_replaced_mid_rollout(
        new_database: Callable[[str], str | None], server_factory: Callable[..., ServerProcess],
        tmp_path: Path) -> None:
    url = new_database("postgres")
    env = {"FLEETYARD_TICK_INTERVAL": "0.2", "FLEETYARD_REGISTRY": str(tmp_path / "shared-registry")}
    first = server_factory(url, "a", **env)
    token = first.admin_token
    servers = [first] + [server_factory(url, name, **env) for name in ("b", "c")]  # one registry, one database
    leader = one_leader(servers, token)
    for _ in range(10):  # and it stays one
        assert one_leader(servers, token) is leader
        time.sleep(0.1)

    push_versions(first, tmp_path, ["1", "2"])
    follower = next(s for s in servers if s is not leader)
    with Client(follower.url, token, timeout=60) as api:
        api.apply(fleet("tiny-llm:1"))
        agents = FakeAgents(api)
        agents.until(lambda r: r.state == "succeeded", "the first version recorded")
        api.apply(fleet("tiny-llm:2", bake_s=3))
        before = agents.until(lambda r: r.to == "tiny-llm:2" and r.waves[0].state == "baking", "wave 0 baking")
        leader.kill()  # SIGKILL: no shutdown code, the lock goes with its connection
        rest = [s for s in servers if s is not leader]
        successor = one_leader(rest, token)
        assert successor is not leader
        done = agents.until(lambda r: r.state in ("succeeded", "rolled_back", "aborted"), "the rollout finished")
    assert done.id == before.id and done.state == "succeeded", done
    assert [w.state for w in done.waves] == ["succeeded", "succeeded"]

    database = Database(url)  # type: ignore[arg-type]
    try:
        with database.session() as s:
            events = [e for e in list_events(s, kind="rollout.", limit=1000)
                      if e.data and e.data.get("rollout") == before.id]
    finally:
        database.dispose()
    counts = Counter(e.kind for e in events)
    assert counts == {"rollout.started": 1, "rollout.wave_started": 2, "rollout.wave_baked": 2,
                      "rollout.succeeded": 1}, [f"{e.kind}: {e.message}" for e in events]
    log = "".join(s.log.read_text() for s in servers if s is not leader)
    assert "is the leader" in log


def test_sqlite_servers_each_lead(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(None, "solo")
    assert leading(server, server.admin_token) is True
