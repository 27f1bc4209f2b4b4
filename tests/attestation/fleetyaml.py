"""A two-site fleet for attestation tests: fra-1 is cheap, par-1 dear, both declare 4 L4;
`chat` wants 4 one-GPU replicas, so with all GPUs there it all runs at fra-1."""

from __future__ import annotations

import sys

import yaml

SLEEPER = "import time\ntime.sleep(10**6)\n"


def fleet_yaml(python: str = sys.executable, *, fra_gpus: list[dict[str, object]] | None = None) -> str:
    docs: list[dict[str, object]] = [
        {"apiVersion": "fleetyard/v1", "kind": "Region", "metadata": {"name": "eu-central"},
         "spec": {"location": {"lat": 50.11, "lon": 8.68}}},
        {"apiVersion": "fleetyard/v1", "kind": "Objective", "metadata": {"name": "default"},
         "spec": {"carbon_price_per_tonne": 0, "resilience": "none"}},
    ]
    for name, lat, lon, price in (("fra-1", 50.11, 8.68, 0.05), ("par-1", 48.86, 2.35, 0.4)):
        gpus = fra_gpus if name == "fra-1" and fra_gpus is not None else [{"sku": "L4", "count": 4}]
        docs.append({"apiVersion": "fleetyard/v1", "kind": "Site", "metadata": {"name": name}, "spec": {
            "type": "edge", "country": "DE" if name == "fra-1" else "FR", "location": {"lat": lat, "lon": lon},
            "gpus": gpus, "power": {"it_capacity_kw": 2},
            "energy": {"price_per_kwh": price, "carbon_g_per_kwh": 300}}})
    docs.append({"apiVersion": "fleetyard/v1", "kind": "Workload", "metadata": {"name": "chat"},
                 "spec": {"type": "batch", "model": "chat-llm:1", "replica": {"gpus": 1, "gpu_skus": ["L4"]},
                          "replicas": {"min": 4, "max": 4}, "spread": {"min_sites": 1},
                          "command": [python, "-c", SLEEPER]}})
    return yaml.safe_dump_all(docs, sort_keys=False)
