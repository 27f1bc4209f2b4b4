"""Integration: a real server and a real agent process with a site provenance policy.

The site accepts only versions whose provenance is signed by the release key and whose
datasets are on its list. A version trained on an approved dataset runs; one trained
on an unapproved dataset, and one without provenance, are refused with the reason in
the site's report, and the site keeps running the version before. The server records
the pushing token as the pusher and refuses a manifest that names another of its tokens.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from fleetyard.agent.localfleet import LocalFleet, write_model
from fleetyard.registry import InvalidInputError, StorageError, push
from fleetyard.registry.provenance import Dataset, ProvenanceInput, read_provenance
from fleetyard.services.http_backend import HttpBackend, open_remote_store
from fleetyard.services.wire import FleetStatus, ModelStatus
from tests.agent.fleetspec import write_fleet

pytestmark = pytest.mark.timeout(240)

TICKETS = "sha256:" + "1" * 64
SITES = {"a-1": (50.11, 8.68)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    root = tmp_path_factory.mktemp("fleet")
    f = LocalFleet(root, heartbeat=0.5)
    try:
        f.start_server()
        write_fleet(root / "spec", SITES, "m@prod")
        policy = root / "site-policy.yaml"
        policy.write_text("provenance:\n  required: true\n  signers: [keys/release.pub]\n  datasets:\n"
                          f"    - {{name: support-tickets, digest: '{TICKETS}'}}\n    - {{name: faq}}\n")
        (root / "keys" / "release.pub").symlink_to(f.public_key)
        f.apply(root / "spec")
        f.start_agent("a-1", extra=["--site-policy", str(policy)])
        yield f
    finally:
        f.close()


def model(st: FleetStatus, ref: str) -> ModelStatus | None:
    return next((m for s in st.sites for m in s.models if m.ref == ref), None)


def _push(fleet: LocalFleet, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    folder = write_model(fleet.root / f"v{version}", version=int(version))
    return subprocess.run([sys.executable, "-m", "fleetyard", "registry", "push", str(folder), f"m:{version}",
                           "--server", fleet.url, "--token", fleet.admin, "--key", str(fleet.signing_key),
                           "--alias", "prod", "-q", *extra], capture_output=True, text=True, timeout=120,
                          check=False)


def test_approved_dataset_runs_and_the_pusher_is_the_token(fleet: LocalFleet) -> None:
    run = _push(fleet, "1", "--dataset", f"support-tickets:2024-06@{TICKETS}", "--run-id", "run-1")
    assert run.returncode == 0, run.stderr
    fleet.apply(fleet.root / "spec")
    st = fleet.wait_for(fleet.running(["a-1"], "m:1"), "m:1 running at a-1")
    assert st.sites[0].active == {"m": "m:1"}
    store = open_remote_store(fleet.url, fleet.admin)
    try:
        assert isinstance(store.backend, HttpBackend)
        prov = read_provenance(store.resolve("m:1"))
        assert prov is not None and prov.pushed_by == store.backend.whoami()
        assert prov.pushed_by.startswith("token ") and prov.pushed_by.endswith(f"(admin) at {fleet.url}")
    finally:
        store.backend.close()  # type: ignore[attr-defined]


def test_unapproved_dataset_is_refused_and_the_old_version_keeps_running(fleet: LocalFleet) -> None:
    run = _push(fleet, "2", "--dataset", f"support-tickets:2024-07@sha256:{'9' * 64}",
                "--dataset", "faq:v3@sha256:" + "2" * 64)
    assert run.returncode == 0, run.stderr
    fleet.apply(fleet.root / "spec")

    def refused(st: FleetStatus) -> bool:
        return (m := model(st, "m:2")) is not None and m.state == "failed"

    st = fleet.wait_for(refused, "m:2 refused at a-1")
    m = model(st, "m:2")
    assert m is not None and m.error is not None
    assert "refused by site policy: dataset support-tickets:2024-07" in m.error
    assert "is not on the allowed list" in m.error and "faq" not in m.error  # faq (any digest) is allowed
    assert st.sites[0].active == {"m": "m:1"}
    assert [w.model for w in st.sites[0].workloads] == ["m:1"]
    assert not (fleet.agents["a-1"].data_dir / "models" / "m" / "2").exists()


def test_version_without_provenance_is_refused(fleet: LocalFleet) -> None:
    run = _push(fleet, "3")
    assert run.returncode == 0, run.stderr
    fleet.apply(fleet.root / "spec")

    def refused(st: FleetStatus) -> bool:
        return (m := model(st, "m:3")) is not None and m.state == "failed"

    m = model(fleet.wait_for(refused, "m:3 refused at a-1"), "m:3")
    assert m is not None and m.error is not None and "has no provenance" in m.error
    assert fleet.status().sites[0].active == {"m": "m:1"}


def test_server_refuses_a_manifest_naming_another_token_as_pusher(fleet: LocalFleet) -> None:
    operator = fleet.client.create_token("operator").token
    admin = open_remote_store(fleet.url, fleet.admin)
    store = open_remote_store(fleet.url, operator)
    try:
        assert isinstance(admin.backend, HttpBackend)
        forged = ProvenanceInput(datasets=(Dataset("faq", "1", "sha256:" + "2" * 64),),
                                 pushed_by=admin.backend.whoami())
        with pytest.raises((StorageError, InvalidInputError), match="a version's pusher is the token that pushes it"):
            push(store, fleet.root / "v1", "forged", "1", key=fleet.signing_key, provenance=forged, workers=1)
        assert not store.has_version("forged", "1")
    finally:
        store.backend.close()  # type: ignore[attr-defined]
        admin.backend.close()  # type: ignore[attr-defined]
