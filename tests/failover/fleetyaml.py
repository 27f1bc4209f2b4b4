"""A small fleet for failover tests: three EU edge sites and one in the US; `chat` must stay in the EU."""

from __future__ import annotations

import sys

import yaml

SLEEPER = "import os, time\nassert os.path.isfile(os.path.join(os.environ['FLEETYARD_MODEL_DIR'], 'config.json'))\n" \
    "time.sleep(10**6)\n"
SITES = {"fra-1": ("DE", 50.11, 8.68), "fra-2": ("DE", 50.05, 8.57), "par-1": ("FR", 48.86, 2.35),
         "nyc-1": ("US", 40.71, -74.0)}


def fleet_yaml(model: str = "chat-llm:1", python: str = sys.executable, *, replicas: int = 2, spread: int = 1) -> str:
    docs: list[dict[str, object]] = [
        {"apiVersion": "fleetyard/v1", "kind": "Region", "metadata": {"name": "eu-central"},
         "spec": {"location": {"lat": 50.11, "lon": 8.68}}},
        {"apiVersion": "fleetyard/v1", "kind": "Objective", "metadata": {"name": "default"},
         "spec": {"carbon_price_per_tonne": 0, "resilience": "none"}},
        {"apiVersion": "fleetyard/v1", "kind": "Policy", "metadata": {"name": "eu-residency"},
         "spec": {"selector": {"residency": "eu"}, "allowed": {"countries": ["DE", "FR"]}}},
    ]
    for name, (cc, lat, lon) in SITES.items():
        docs.append({"apiVersion": "fleetyard/v1", "kind": "Site", "metadata": {"name": name}, "spec": {
            "type": "edge", "country": cc, "location": {"lat": lat, "lon": lon},
            # nyc-1 is the cheapest: without the residency policy `chat` would go there
            "gpus": [{"sku": "L4", "count": 2}], "power": {"it_capacity_kw": 1},
            "energy": {"price_per_kwh": 0.05 if name == "nyc-1" else 0.2, "carbon_g_per_kwh": 300}}})
    docs.append({"apiVersion": "fleetyard/v1", "kind": "Workload",
                 "metadata": {"name": "chat", "labels": {"residency": "eu"}},
                 "spec": {"type": "batch", "model": model, "replica": {"gpus": 1},
                          "replicas": {"min": replicas, "max": replicas}, "spread": {"min_sites": spread},
                          "command": [python, "-c", SLEEPER]}})
    return yaml.safe_dump_all(docs, sort_keys=False)
