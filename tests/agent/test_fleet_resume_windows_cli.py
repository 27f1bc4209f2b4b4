"""Integration: an agent SIGKILLed mid-sync resumes without refetching; sync windows hold
transfers back until they open (the agent's clock injected through FLEETYARD_TEST_CLOCK);
user mistakes on the agent's command line are one line and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetyard.agent.localfleet import LocalFleet, free_port, write_model
from fleetyard.registry import missing_chunks, open_store
from fleetyard.services.wire import FleetStatus
from tests.agent.fleetspec import write_fleet
from tests.agent.test_fleet_relay_delta_faults import metric, model

pytestmark = pytest.mark.timeout(240)

SITES = {"k-1": (50.11, 8.68), "w-1": (48.86, 2.35)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    root = tmp_path_factory.mktemp("fleet2")
    f = LocalFleet(root, heartbeat=0.5)
    try:
        f.start_server()
        write_fleet(root / "spec", SITES, "n:1", windows={"w-1": ["01:00-02:00"]})
        f.push(write_model(root / "v1", version=1, tensors=12), "n", "1")
        f.apply(root / "spec")
        yield f
    finally:
        f.close()


def test_sigkill_mid_sync_then_restart_finishes_without_refetching(fleet: LocalFleet) -> None:
    server = open_store(fleet.root / "server" / "registry")
    need = missing_chunks(server, "n:1").total_bytes
    a = fleet.start_agent("k-1", max_mbps=12, extra=["--relay-wait", "0"])  # 1.5 MB/s: 6 MB take ~4 s
    packs = a.data_dir / "registry" / "packs"
    deadline = time.monotonic() + 60
    while not any(packs.rglob("*.idx")) if packs.exists() else True:
        assert time.monotonic() < deadline, "the agent never published a pack"
        time.sleep(0.05)
    fleet.kill_agent("k-1")
    local = open_store(a.data_dir / "registry")
    assert not local.has_version("n", "1"), "killed mid-sync, yet the version is complete"
    assert not (a.data_dir / "models" / "n" / "1").exists()
    missing = missing_chunks(server, "n:1", have=local.index().digests()).total_bytes
    assert 0 < missing < need
    fleet.restart_agent("k-1")
    fleet.wait_for(fleet.running(["k-1"], "n:1"), "n:1 running at k-1 after the restart")
    fetched = metric(fleet, "k-1", "fleetyard_agent_bytes_fetched_total")
    assert missing <= fetched <= missing * 1.05 + 32 * 1024, (fetched, missing, need)


def test_nothing_is_fetched_outside_the_sync_window(fleet: LocalFleet) -> None:
    clock = fleet.root / "w-1.clock"
    clock.write_text("2026-03-01T12:00:00Z")  # the window is 01:00-02:00 UTC
    fleet.start_agent("w-1", env={"FLEETYARD_TEST_CLOCK": str(clock)})
    time.sleep(4 * fleet.heartbeat)

    def reported(st: FleetStatus) -> bool:
        return model(st, "w-1", "n:1") is not None

    st = fleet.wait_for(reported, "w-1 reporting n:1")
    time.sleep(2)
    st = fleet.status()
    m = model(st, "w-1", "n:1")
    assert m is not None and m.state == "pending" and m.bytes_fetched == 0, m
    assert metric(fleet, "w-1", "fleetyard_agent_in_sync_window") == 0
    assert metric(fleet, "w-1", "fleetyard_agent_bytes_fetched_total") == 0
    clock.write_text("2026-03-02T01:30:00Z")
    st = fleet.wait_for(fleet.running(["w-1"], "n:1"), "n:1 running at w-1 once the window opened")
    assert metric(fleet, "w-1", "fleetyard_agent_in_sync_window") == 1


def run_agent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", "agent", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def invoke_agent(*args: str) -> tuple[int, str]:
    """`fleetyard agent ...` in-process (it exits before running on every mistake)."""
    from typer.testing import CliRunner

    from fleetyard.cli.app import app

    r = CliRunner().invoke(app, ["agent", *args], env={"COLUMNS": "200"})
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stderr


def test_user_mistakes_are_one_line_and_a_nonzero_exit(fleet: LocalFleet, tmp_path: Path) -> None:
    key = str(fleet.public_key)
    base = ["--data-dir", str(tmp_path / "d"), "--trust-key", key]
    cases = [
        (["--site", "k-1", "--server", fleet.url, "--token", fleet.agent_token("k-1"), "--data-dir",
          str(tmp_path / "d"), "--trust-key", str(tmp_path / "missing.pub")], 2, "missing.pub does not exist"),
        (["--site", "k-1", "--server", fleet.url, "--token", "fy_wrong", *base], 2, "refused the token"),
        (["--site", "w-1", "--server", fleet.url, "--token", fleet.agent_token("k-1"), *base], 2, "403"),
        (["--site", "k-1", "--server", f"http://127.0.0.1:{free_port()}", "--token", "t", "--connect-timeout", "1",
          *base], 1, "cannot reach the control plane"),
        (["--site", "k-1", "--server", "ftp://x", "--token", "t", *base], 2, "--server"),
        (["--site", "k-1", "--server", fleet.url, "--token", "t", "--max-mbps", "0", *base], 2, "--max-mbps"),
        (["--site", "k-1", "--server", fleet.url, "--token", "t", "--listen", "nope", *base], 2, "--listen"),
        (["--site", "k-1", "--server", fleet.url, "--token", "t", "--runtime", "docker", *base], 2, "--runtime"),
        (["--site", "k-1", "--server", fleet.url, "--token", fleet.agent_token("k-1"), "--data-dir",
          str(fleet.agents["k-1"].data_dir), "--trust-key", key], 2, "in use by another fleetyard agent"),
    ]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    cases.append((["--site", "k-1", "--server", fleet.url, "--token", fleet.agent_token("k-1"), *base,
                   "--listen", f"127.0.0.1:{busy.getsockname()[1]}"], 1, "cannot start the agent"))
    for args, code, words in cases:
        rc, stderr = invoke_agent(*args)
        assert rc == code, (args, rc, stderr)
        assert words in stderr, (words, stderr)
        assert len([line for line in stderr.splitlines() if line.strip()]) == 1, stderr
    # and as a real process
    r = run_agent("--site", "nowhere", "--server", fleet.url, "--token", fleet.admin, *base)
    assert r.returncode == 2 and "site 'nowhere' is not known" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    busy.close()
    r = run_agent("--site", "k-1", "--bogus")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--bogus" in r.stderr
