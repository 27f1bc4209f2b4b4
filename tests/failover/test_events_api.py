"""The events route: filters, paging with `after`, bad input answers 422 in the ErrorOut shape; the CLI exits 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from fleetyard.services.wire import Replicas, SiteReport, SpecFile
from tests.failover.fleetyaml import fleet_yaml
from tests.server.conftest import ServerProcess

pytestmark = pytest.mark.timeout(300)  # bounds the blocking reads of the --watch output


def test_events_route_and_cli(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(FLEETYARD_FAILOVER="true", FLEETYARD_FAILOVER_GRACE="1", FLEETYARD_TICK_INTERVAL="0.2",
                            FLEETYARD_HEARTBEAT_INTERVAL="0.2")
    with server.client() as api:
        api.apply([SpecFile(name="fleet.yaml", content=fleet_yaml())])
        api.report(SiteReport(site="fra-1", agent_version="test", revision=1))  # one heartbeat, then silence
        deadline = time.monotonic() + 60
        while not api.events(kind="plan.replanned"):  # the re-plan commits after the site.down decision
            assert time.monotonic() < deadline, f"fra-1 never went down and out: {api.events()}"
            time.sleep(0.2)
        everything = api.events()
        assert [e.kind for e in everything][:2] == ["site.down", "plan.replanned"]
        assert api.events(kind="site.") == [e for e in everything if e.kind.startswith("site.")]
        assert api.events(subject="fra-1")[0].kind == "site.down"
        assert api.events(after=everything[0].id) == everything[1:]
        assert api.events(after=everything[-1].id) == []
        st = {s.site: s for s in api.status().sites}
        assert not st["fra-1"].available and st["fra-2"].available and st["fra-1"].replicas == Replicas()
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    metrics = httpx.get(f"{server.url}/metrics", headers=auth).text
    assert 'fleetyard_site_available{site="fra-1"} 0.0' in metrics
    assert 'fleetyard_site_available{site="fra-2"} 1.0' in metrics
    for query in ("after=-1", "after=2147483648", "limit=0", "limit=10001", "after=x", "kind=" + "a" * 41,
                  "subject=a&subject=b"):
        r = httpx.get(f"{server.url}/api/v1/events?{query}", headers=auth)
        assert r.status_code == 422 and r.json()["detail"], query
    assert httpx.get(f"{server.url}/api/v1/events").status_code == 401
    cli = [sys.executable, "-m", "fleetyard", "events", "--server", server.url, "--token", server.admin_token]
    r = subprocess.run([*cli, "--format", "json", "--kind", "site.down"], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0 and [e["subject"] for e in json.loads(r.stdout)] == ["fra-1"]
    r = subprocess.run([*cli], capture_output=True, text=True, timeout=60, check=False,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0 and "site.down" in r.stdout and "fra-1 is unavailable" in r.stdout
    r = subprocess.run([*cli, "--limit", "0"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2
    r = subprocess.run([sys.executable, "-m", "fleetyard", "status", "--server", server.url, "--token",
                        server.admin_token], capture_output=True, text=True, timeout=60, check=False,
                       env={**os.environ, "COLUMNS": "250"})
    row = next(line for line in r.stdout.splitlines() if "fra-1" in line)
    assert r.returncode == 0 and "UNAVAILABLE since" in row and "no heartbeat for" in row, r.stdout


def test_events_watch_prints_new_events_until_interrupted(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(FLEETYARD_FAILOVER="true", FLEETYARD_FAILOVER_GRACE="1", FLEETYARD_TICK_INTERVAL="0.2",
                            FLEETYARD_HEARTBEAT_INTERVAL="0.2")
    with server.client() as api:
        api.apply([SpecFile(name="fleet.yaml", content=fleet_yaml())])
        watch = subprocess.Popen([sys.executable, "-m", "fleetyard", "events", "--server", server.url, "--token",
                                  server.admin_token, "--watch", "--format", "json", "--kind", "site.", "--poll",
                                  "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 # a suite started in the background inherits SIGINT ignored; Ctrl-C is what is tested
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            for site in ("fra-1", "par-1"):  # one heartbeat each, then silence: two site.down events, one by one
                api.report(SiteReport(site=site, agent_version="test", revision=1))
                assert watch.stdout is not None
                line = watch.stdout.readline()  # bounded: the site goes down within the grace
                assert json.loads(line)["subject"] == site and json.loads(line)["kind"] == "site.down"
        finally:
            watch.send_signal(signal.SIGINT)
            _out, err = watch.communicate(timeout=30)
        assert watch.returncode == 0, err
