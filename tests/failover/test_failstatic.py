"""Fail static: with the server stopped the agent keeps its replicas running, also after it is restarted."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.failover.helpers import by_site, chat_sites, failover_fleet, replica_pids, runs_chat

pytestmark = pytest.mark.timeout(300)


def wait(cond: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def metric(url: str, name: str, token: str) -> float | None:
    try:
        text = httpx.get(f"{url}/metrics", timeout=5, headers={"Authorization": f"Bearer {token}"}).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_agent_keeps_running_its_last_desired_state_without_the_server(tmp_path: Path) -> None:
    with failover_fleet(tmp_path) as (fleet, _receiver):
        st = fleet.wait_for(lambda st: bool(chat_sites(st)) and all(
            runs_chat(by_site(st)[s], n) for s, n in chat_sites(st).items()), "chat running", timeout=120)
        site = max(chat_sites(st), key=lambda s: chat_sites(st)[s])
        agent = fleet.agents[site]
        wanted = chat_sites(st)[site]
        token = fleet.agent_token(site)

        def gauge(name: str) -> float | None:
            return metric(agent.url, name, token)

        assert gauge("fleetyard_agent_control_plane_up") == 1.0
        assert (agent.data_dir / "state" / "desired.json").is_file()

        fleet.stop_server()
        wait(lambda: "control plane unreachable since" in agent.log.read_text(), "the agent saying it lost the server")
        log = agent.log.read_text()
        assert f"running the last desired state, revision {st.revision}" in log
        assert log.count("control plane unreachable since") == 1  # said once, not every poll
        wait(lambda: gauge("fleetyard_agent_control_plane_up") == 0.0, "control_plane_up 0")
        before = sorted(replica_pids(agent.data_dir))
        assert len(before) == wanted
        age = gauge("fleetyard_agent_desired_state_age_seconds")
        wait(lambda: (gauge("fleetyard_agent_desired_state_age_seconds") or 0) > (age or 0),
             "the desired state's age growing")
        assert sorted(replica_pids(agent.data_dir)) == before  # the same replicas keep running

        # restarted while the server is still down: it starts the kept desired state again
        fleet.kill_agent(site, signal.SIGKILL)
        fleet.restart_agent(site)
        wait(lambda: agent.log.read_text().count("control plane unreachable since") == 2, "the restarted agent")
        wait(lambda: len(replica_pids(agent.data_dir)) == wanted and sorted(replica_pids(agent.data_dir)) != before,
             "replicas started again from the kept desired state")
        assert agent.proc.poll() is None
        # its /metrics still answers the token the server vouched for before the restart
        wait(lambda: gauge("fleetyard_agent_control_plane_up") == 0.0, "control_plane_up 0 after the restart")

        fleet.start_server()
        wait(lambda: "control plane reachable again after" in agent.log.read_text(), "the agent saying it is back")
        wait(lambda: gauge("fleetyard_agent_control_plane_up") == 1.0, "control_plane_up 1")
