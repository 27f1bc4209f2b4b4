"""A real agent process syncs an encrypted model from a real server over HTTP; a site the
data key is not wrapped for fails with the reason and runs it once granted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetyard.agent.localfleet import LocalFleet
from fleetyard.registry import push
from fleetyard.registry.encryption import grant, load_recipients
from fleetyard.registry.store import utc_now
from fleetyard.services.http_backend import open_remote_store
from fleetyard.services.wire import FleetStatus
from tests.agent.fleetspec import write_fleet
from tests.agent.test_fleet_relay_delta_faults import model
from tests.encryption.conftest import MARKER, write_marked_model, write_site_keys

pytestmark = pytest.mark.timeout(240)

SITES = {"k-1": (50.11, 8.68), "w-1": (48.86, 2.35)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    root = tmp_path_factory.mktemp("encfleet")
    f = LocalFleet(root, heartbeat=0.5)
    try:
        f.start_server()
        write_fleet(root / "spec", SITES, "sec:1")
        yield f
    finally:
        f.close()


def test_agent_syncs_an_encrypted_model_and_another_site_waits_for_a_grant(fleet: LocalFleet) -> None:
    root = fleet.root
    keys = write_site_keys(root / "sitekeys", "k-1", "w-1", "publisher")
    store = open_remote_store(fleet.url, fleet.admin)
    try:  # pushed over HTTP to the server, encrypted for k-1 only, and signed
        push(store, write_marked_model(root / "m", shards=2), "sec", "1", key=fleet.signing_key,
             encrypt_for=load_recipients([keys["k-1.pub"]]), site_key=keys["publisher"], workers=1)
    finally:
        store.backend.close()  # type: ignore[attr-defined]
    server_files = [p for p in (root / "server" / "registry").rglob("*") if p.is_file()]
    assert any("keys" in p.parts for p in server_files)
    assert not any(MARKER in p.read_bytes() for p in server_files)

    fleet.apply(root / "spec")
    fleet.start_agent("k-1", extra=["--relay-wait", "0", "--site-key", str(keys["k-1"])])
    fleet.start_agent("w-1", extra=["--relay-wait", "0", "--site-key", str(keys["w-1"])])
    fleet.wait_for(fleet.running(["k-1"], "sec:1"), "sec:1 running at k-1", timeout=120)
    shard = root / "sites" / "k-1" / "models" / "sec" / "1" / "shard-0.bin"
    assert shard.read_bytes() == (root / "m" / "shard-0.bin").read_bytes()
    local = [p for p in (root / "sites" / "k-1" / "registry").rglob("*") if p.is_file()]
    assert not any(MARKER in p.read_bytes() for p in local)  # the site's chunk store is sealed too

    def refused(st: FleetStatus) -> bool:
        m = model(st, "w-1", "sec:1")
        return m is not None and m.state == "failed" and "not wrapped for site key" in (m.error or "")

    st = fleet.wait_for(refused, "w-1 refusing sec:1 for want of a wrapped key", timeout=120)
    assert not (root / "sites" / "w-1" / "models" / "sec" / "1").exists(), st
    store = open_remote_store(fleet.url, fleet.admin)
    try:
        grant(store.backend, "sec", load_recipients([keys["w-1.pub"]]), keys["publisher"], utc_now())
    finally:
        store.backend.close()  # type: ignore[attr-defined]
    fleet.wait_for(fleet.running(["w-1"], "sec:1"), "sec:1 running at w-1 after the grant", timeout=150)


def test_agent_refuses_a_site_key_that_is_not_one(fleet: LocalFleet, tmp_path: Path) -> None:
    from tests.agent.test_fleet_resume_windows_cli import invoke_agent

    rc, stderr = invoke_agent("--site", "k-1", "--server", fleet.url, "--token", "t", "--data-dir",
                              str(tmp_path / "d"), "--trust-key", str(fleet.public_key),
                              "--site-key", str(fleet.public_key))
    assert rc == 2 and "--site-key" in stderr and "expected an X25519 private key" in stderr, stderr
