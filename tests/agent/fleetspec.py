"""Fleet YAML for integration tests: sites at given places, one workload on all of them."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

# The workload every site runs: checks its model folder is there, then sleeps.
SLEEPER = "import os, time\nassert os.path.isfile(os.path.join(os.environ['FLEETYARD_MODEL_DIR'], 'config.json'))\n" \
    "time.sleep(10**6)\n"


def write_fleet(folder: Path, sites: dict[str, tuple[float, float]], model: str, *,
                windows: dict[str, list[str]] | None = None) -> Path:
    """Two regions, the given sites (name -> lat, lon), workload `chat` with one replica per site."""
    folder.mkdir(parents=True, exist_ok=True)
    docs: list[dict[str, object]] = [
        {"apiVersion": "fleetyard/v1", "kind": "Region", "metadata": {"name": "eu-central"},
         "spec": {"location": {"lat": 50.11, "lon": 8.68}}},
        {"apiVersion": "fleetyard/v1", "kind": "Region", "metadata": {"name": "eu-west"},
         "spec": {"location": {"lat": 48.86, "lon": 2.35}}},
        {"apiVersion": "fleetyard/v1", "kind": "Objective", "metadata": {"name": "default"},
         "spec": {"carbon_price_per_tonne": 0, "resilience": "none"}},
    ]
    for name, (lat, lon) in sites.items():
        spec: dict[str, object] = {
            "type": "edge", "country": "DE", "location": {"lat": lat, "lon": lon},
            "gpus": [{"sku": "L4", "count": 2}], "power": {"it_capacity_kw": 1},
            "energy": {"price_per_kwh": 0.2, "carbon_g_per_kwh": 300},
        }
        if windows and name in windows:
            spec["sync_windows"] = windows[name]
            spec["timezone"] = "UTC"
        docs.append({"apiVersion": "fleetyard/v1", "kind": "Site", "metadata": {"name": name}, "spec": spec})
    docs.append({
        "apiVersion": "fleetyard/v1", "kind": "Workload", "metadata": {"name": "chat"},
        "spec": {"type": "inference", "model": model, "replica": {"gpus": 1},
                 "replicas": {"min": len(sites), "max": len(sites)},
                 "demand": {"eu-central": 10, "eu-west": 10}, "rps_per_replica": 100,
                 "latency_slo_ms": 50, "spread": {"min_sites": len(sites)},
                 "command": [sys.executable, "-c", SLEEPER], "env": {"APP": "test"}},
    })
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path
