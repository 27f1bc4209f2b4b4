"""A real server and a real agent process whose `nvidia-smi` (a script first on PATH) lists
fewer GPUs than its Site declares (issue 14, item 5): the drift shows in the API, the CLI, the
metrics and the events; with --attested-capacity the plan stops using the missing GPUs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from typer.testing import CliRunner

from fleetyard.agent.localfleet import LocalFleet, write_model
from fleetyard.cli.app import app
from fleetyard.services.wire import FleetStatus, PlanOut, SiteStatus
from tests.agent.rollout_site import wait_until
from tests.attestation.fleetyaml import fleet_yaml

HEARTBEAT = 0.5
L4 = "NVIDIA L4, 23034, GPU-{i:04d}aaaa-1b2c-3d4e-5f60-718293a4b5c6\n"
# The stand-in for nvidia-smi: the inventory query prints the file beside it; any other query
# (the telemetry's) fails, as on a machine whose driver gives no readings.
FAKE = """#!{python}
import sys
if "--query-gpu=name,memory.total,uuid" in sys.argv:
    sys.stdout.write(open({gpus!r}).read())
    sys.exit(0)
sys.exit(1)
"""


def _gpus(path: Path, n: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(L4.format(i=i) for i in range(n)), encoding="utf-8")
    tmp.replace(path)  # atomic: the probe never reads half a file


@contextmanager
def _fleet(root: Path, found: int, **env: str) -> Iterator[tuple[LocalFleet, Path]]:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    gpus = root / "gpus.csv"
    _gpus(gpus, found)
    tool = bin_dir / "nvidia-smi"
    tool.write_text(FAKE.format(python=sys.executable, gpus=str(gpus)), encoding="utf-8")
    tool.chmod(0o755)
    fleet = LocalFleet(root, heartbeat=HEARTBEAT)
    try:
        fleet.start_server(env={"FLEETYARD_FAILOVER": "false", "FLEETYARD_TICK_INTERVAL": "0.5", **env})
        fleet.push(write_model(root / "model", tensors=2, rows=16), "chat-llm", "1")
        spec = root / "fleet" / "fleet.yaml"
        spec.parent.mkdir(parents=True)
        spec.write_text(fleet_yaml(), encoding="utf-8")
        fleet.apply(spec)
        path = f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"
        fleet.start_agent("fra-1", relay=False, env={"PATH": path},
                          extra=["--inventory-every", "0.5", "--relay-wait", "0", "--connect-timeout", "5"])
        yield fleet, gpus
    finally:
        fleet.close()


def _site(st: FleetStatus, name: str) -> SiteStatus:
    return next(s for s in st.sites if s.site == name)


def _drift(summary: str):  # type: ignore[no-untyped-def]
    def ok(st: FleetStatus) -> bool:
        inv = _site(st, "fra-1").inventory
        return inv is not None and inv.summary == summary
    return ok


def _cli(fleet: LocalFleet, *args: str) -> str:
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "FLEETYARD_SERVER": fleet.url,
                                                 "FLEETYARD_TOKEN": fleet.admin})
    assert r.exit_code == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r.stdout


def _placed(p: PlanOut) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in p.assignments:
        out[a.site] = out.get(a.site, 0) + a.replicas
    return out


def test_fewer_gpus_than_declared_is_drift_in_api_cli_metrics_and_events(tmp_path: Path) -> None:
    with _fleet(tmp_path, found=2) as (fleet, gpus):
        st = fleet.wait_for(_drift("L4: declared 4, found 2"), "fra-1 reports 2 of its 4 L4", timeout=90)
        inv = _site(st, "fra-1").inventory
        assert inv is not None and inv.source == "nvidia-smi" and inv.error is None
        assert inv.declared == {"L4": 4} and inv.found == {"L4": 2}
        assert [(g.sku, g.memory_mib) for g in inv.gpus] == [("L4", 23034), ("L4", 23034)]
        assert [d.model_dump() for d in inv.drift] == [{"sku": "L4", "declared": 4, "found": 2}]
        assert _site(st, "par-1").inventory is None  # no agent: nothing attested, nothing claimed

        out = _cli(fleet, "get", "sites")
        row = next(line for line in out.splitlines() if "fra-1" in line)
        assert "L4 x4" in row and "L4: declared 4, found 2" in row
        assert "│ -" in next(line for line in out.splitlines() if "par-1" in line)
        out = _cli(fleet, "describe", "site", "fra-1")
        assert "Hardware: L4: declared 4, found 2 (nvidia-smi" in out
        assert "Found: L4 x2; declared: L4 x4" in out
        assert "hardware: L4: declared 4, found 2" in _cli(fleet, "status")

        metrics = fleet.client.metrics()
        assert 'fleetyard_site_gpus_declared{gpu="L4",site="fra-1"} 4.0' in metrics
        assert 'fleetyard_site_gpus_discovered{gpu="L4",site="fra-1"} 2.0' in metrics
        assert 'fleetyard_site_inventory_drift{site="fra-1"} 1.0' in metrics
        assert 'fleetyard_site_gpus_declared{gpu="L4",site="par-1"} 4.0' in metrics
        assert 'site="par-1"} ' not in metrics.split("fleetyard_site_gpus_discovered", 1)[1].split("# HELP")[0]

        schema = httpx.get(f"{fleet.url}/openapi.json", timeout=10).json()["components"]["schemas"]
        assert "inventory" in schema["SiteStatus"]["properties"] and "InventoryStatus" in schema
        assert "inventory" in schema["SiteReport"]["properties"]

        # without --attested-capacity the plan keeps the declared GPUs
        assert _placed(fleet.client.plan()) == {"fra-1": 4} and fleet.client.plan().attested == []

        _gpus(gpus, 4)  # the missing boards are back
        fleet.wait_for(_drift("as declared"), "fra-1 reports its 4 L4", timeout=90)
        def inventory_events() -> list[str]:
            return [e.kind for e in fleet.client.events(subject="fra-1") if e.kind.startswith("site.inventory")]

        wait_until(lambda: inventory_events()[-1:] == ["site.inventory_ok"], "the site.inventory_ok event")
        assert inventory_events() == ["site.inventory_drift", "site.inventory_ok"]  # once per change
        drift = next(e for e in fleet.client.events(subject="fra-1") if e.kind == "site.inventory_drift")
        assert drift.message == "fra-1: the GPUs found differ from the declared inventory: L4: declared 4, found 2"
        assert 'fleetyard_site_inventory_drift{site="fra-1"} 0.0' in fleet.client.metrics()


def test_attested_capacity_keeps_the_plan_off_the_missing_gpus(tmp_path: Path) -> None:
    with _fleet(tmp_path, found=2, FLEETYARD_ATTESTED_CAPACITY="true") as (fleet, gpus):
        assert _placed(fleet.client.plan()) == {"fra-1": 4}  # before the agent reports: as declared
        fleet.wait_for(_drift("L4: declared 4, found 2"), "fra-1 reports 2 of its 4 L4", timeout=90)
        plan = wait_until(lambda: (p := fleet.client.plan()).attested and p, "a plan with attested capacity")
        assert _placed(plan) == {"fra-1": 2, "par-1": 2}
        assert [a.model_dump() for a in plan.attested] == [
            {"site": "fra-1", "gpu_sku": "L4", "declared": 4, "found": 2, "planned": 2}]
        assert next(s for s in plan.sites if s.site == "fra-1").gpus_used == {"L4": 2}
        assert "attested capacity: fra-1 L4 2 of 4 declared (found 2)" in _cli(fleet, "get", "plan")
        revision = plan.revision
        assert fleet.client.audit(limit=5)[0].actor.startswith("failover")

        _gpus(gpus, 4)
        plan = wait_until(lambda: (p := fleet.client.plan()).revision > revision and not p.attested and p,
                          "a plan with the declared capacity again")
        assert sum(_placed(plan).values()) == 4 and plan.unplaced == []
