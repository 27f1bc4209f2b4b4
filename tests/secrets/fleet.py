"""A small fleet for the secrets tests: `chat` runs only at fra-1 and uses Secret `openai`;
`other` runs only at par-1 and uses none."""

from __future__ import annotations

import sys

import yaml

from fleetyard.services.wire import SpecFile

TOKEN = "sk-live-7f3a9c1d2b8e4f60a5d7c9e1b3f5a7d9"  # the value no table, log or answer may hold
PASSWORD = "correct horse battery staple 42"

# The replica writes the environment it got to OUT, then sleeps.
WRITE_ENV = ("import json, os, time\n"
             "out = os.environ['OUT']\n"
             "open(out + '.tmp', 'w').write(json.dumps(dict(os.environ))); os.replace(out + '.tmp', out)\n"
             "time.sleep(10**6)\n")


def site(name: str, lat: float, lon: float) -> dict[str, object]:
    return {"apiVersion": "fleetyard/v1", "kind": "Site", "metadata": {"name": name},
            "spec": {"type": "edge", "country": "DE", "location": {"lat": lat, "lon": lon},
                     "gpus": [{"sku": "L4", "count": 2}], "power": {"it_capacity_kw": 1},
                     "energy": {"price_per_kwh": 0.2, "carbon_g_per_kwh": 300}}}


def workload(name: str, at: str, model: str = "tiny:1", **extra: object) -> list[dict[str, object]]:
    return [
        {"apiVersion": "fleetyard/v1", "kind": "Workload", "metadata": {"name": name, "labels": {"app": name}},
         "spec": {"type": "batch", "model": model, "replica": {"gpus": 1}, "replicas": {"min": 1, "max": 1},
                  "command": [sys.executable, "-c", WRITE_ENV], **extra}},
        {"apiVersion": "fleetyard/v1", "kind": "Policy", "metadata": {"name": f"{name}-only-{at}"},
         "spec": {"selector": {"app": name}, "allowed": {"sites": [at]}}},
    ]


def secret(name: str, data: dict[str, str]) -> dict[str, object]:
    return {"apiVersion": "fleetyard/v1", "kind": "Secret", "metadata": {"name": name}, "spec": {"data": data}}


def fleet_docs(out_dir: str = "/tmp", model: str = "tiny:1") -> list[dict[str, object]]:
    """Sites fra-1 and par-1; chat at fra-1 with OPENAI_API_KEY from Secret openai; other at par-1."""
    return [
        {"apiVersion": "fleetyard/v1", "kind": "Region", "metadata": {"name": "eu"},
         "spec": {"location": {"lat": 50.0, "lon": 8.0}}},
        site("fra-1", 50.11, 8.68), site("par-1", 48.86, 2.35),
        *workload("chat", "fra-1", model, env={"MODE": "chat", "OUT": f"{out_dir}/chat.env.json"},
                  secret_env={"OPENAI_API_KEY": {"secret": "openai", "key": "token"}}),
        *workload("other", "par-1", model, env={"OUT": f"{out_dir}/other.env.json"}),
    ]


def files(docs: list[dict[str, object]], name: str = "fleet.yaml") -> list[SpecFile]:
    return [SpecFile(name=name, content=yaml.safe_dump_all(docs, sort_keys=False))]


def secret_files(data: dict[str, str] | None = None) -> list[SpecFile]:
    return files([secret("openai", data or {"token": TOKEN, "org": "acme-research"}),
                  secret("db", {"password": PASSWORD})], "secrets.yaml")
