"""Failover with the real server and agents as processes on loopback (SQLite and PostgreSQL).

SIGKILL an agent: its site becomes unavailable, its work runs healthy on another site
within residency; the agent comes back: the site stays out for the hold-off, then is
available again. Events through the API, the CLI and the webhook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from fleetyard.services.wire import FleetStatus
from tests.failover.fleetyaml import SITES
from tests.failover.helpers import HOLD_OFF, by_site, chat_sites, failover_fleet, runs_chat
from tests.server.conftest import BACKENDS

pytestmark = pytest.mark.timeout(400)


def wait(cond: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkilled_agent_fails_over_and_returns_after_the_hold_off(
        backend: str, new_database: Callable[[str], str | None], tmp_path: Path) -> None:
    with failover_fleet(tmp_path, new_database(backend)) as (fleet, receiver):
        st = fleet.wait_for(lambda st: bool(chat_sites(st)) and all(
            runs_chat(by_site(st)[s], n) for s, n in chat_sites(st).items()), "chat running", timeout=120)
        placed = chat_sites(st)
        assert "nyc-1" not in placed
        victim = max(placed, key=lambda s: placed[s])
        revision = st.revision
        fleet.kill_agent(victim)

        st = fleet.wait_for(lambda st: not by_site(st)[victim].available, f"{victim} unavailable", timeout=120)
        site = by_site(st)[victim]
        assert site.unavailable_since is not None and "grace 3 s" in (site.unavailable_reason or "")

        def moved(st: FleetStatus) -> bool:
            sites = chat_sites(st)
            return victim not in sites and sum(sites.values()) == 2 and all(
                runs_chat(by_site(st)[s], n) for s, n in sites.items())

        st = fleet.wait_for(moved, "chat running healthy elsewhere", timeout=120)
        assert "nyc-1" not in chat_sites(st)  # residency holds in the failover
        out_revision = st.revision
        assert out_revision > revision

        fleet.restart_agent(victim)
        fleet.wait_for(lambda st: by_site(st)[victim].last_heartbeat is not None and not by_site(st)[victim].stale,
                       f"{victim} heartbeating again", timeout=120)
        wait(lambda: bool(fleet.client.events(kind="site.returning", subject=victim)), "the return as an event")
        st = fleet.status()
        if not by_site(st)[victim].available:  # within the hold-off the work stays out
            assert st.revision == out_revision and victim not in chat_sites(st)
        st = fleet.wait_for(lambda st: by_site(st)[victim].available, f"{victim} available again", timeout=180)

        events = fleet.client.events(limit=1000)
        kinds = [e.kind for e in events if e.kind.startswith(("site.", "plan."))]
        assert kinds.count("site.down") == 1 and kinds.count("site.up") == 1
        assert kinds.index("site.down") < kinds.index("plan.replanned") < kinds.index("site.up")
        up = next(e for e in events if e.kind == "site.up")
        last_return = [e for e in events if e.kind == "site.returning" and e.id < up.id][-1]
        assert last_return.data is not None  # heartbeating since (the first heartbeat back), then the hold-off
        assert (up.at - datetime.fromisoformat(str(last_return.data["since"]))).total_seconds() >= HOLD_OFF
        wait(lambda: bool(fleet.client.events(kind="plan.replanned", after=up.id)), "the re-plan with the site back")

        # the CLI lists the same events
        env = {**os.environ, "COLUMNS": "200"}
        r = subprocess.run([sys.executable, "-m", "fleetyard", "events", "--server", fleet.url, "--token", fleet.admin,
                            "--kind", "site.", "--format", "json"], capture_output=True, text=True, env=env,
                           timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        listed = json.loads(r.stdout)
        assert [e["kind"] for e in listed].count("site.down") == 1 and all(e["kind"].startswith("site.")
                                                                           for e in listed)
        # status shows it
        r = subprocess.run([sys.executable, "-m", "fleetyard", "status", "--server", fleet.url, "--token",
                            fleet.admin, "--format", "json"], capture_output=True, text=True, env=env, timeout=60,
                           check=False)
        assert r.returncode == 0 and all(s["available"] for s in json.loads(r.stdout)["sites"] if s["site"] in SITES)

        # the webhook got every event, in id order, with a Slack-compatible text
        last = fleet.client.events(limit=1)[-1].id
        wait(lambda: bool(receiver.bodies) and receiver.bodies[-1]["id"] >= last, "webhook deliveries")
        ids = [b["id"] for b in receiver.bodies]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        down = next(b for b in receiver.bodies if b["kind"] == "site.down")
        assert down["text"].startswith(f"[site.down] {victim}: {victim} is unavailable: no heartbeat for")
        assert down["subject"] == victim and "message" in down and "at" in down
