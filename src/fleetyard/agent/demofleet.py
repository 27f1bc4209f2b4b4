"""The demo fleet of `fleetyard demo` (the same text as examples/demo/fleet.yaml, kept
inside the package so the demo works from an installed wheel; a test keeps them equal)."""

from __future__ import annotations

__all__ = ["DEMO_FLEET", "DEMO_SITES"]

DEMO_SITES = {"eu-central": ("fra-1", "fra-2"), "eu-west": ("par-1", "par-2")}

DEMO_FLEET = """\
# A small demo fleet for `fleetyard demo`: four edge sites in two regions, each with a
# few L4 GPUs, and two workloads that run the demo model with tiny Python programs.
#
# The site agent's process runtime starts each workload's `command` once per replica
# with FLEETYARD_MODEL_DIR (the verified model folder) and FLEETYARD_PORT (a free
# loopback port) in its environment. `demo-chat` serves the model folder over HTTP;
# `demo-indexer` reads the model's config once and sleeps. A new version of `demo-chat`
# rolls out as a canary: validated on each site, probed, one site first
# (docs/rollouts.md).

apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec:
  location: {lat: 50.11, lon: 8.68}       # Frankfurt am Main
---
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-west}
spec:
  location: {lat: 48.86, lon: 2.35}       # Paris
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1, labels: {metro: frankfurt}}
spec:
  type: edge
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus: [{sku: L4, count: 4}]
  power: {it_capacity_kw: 2}
  energy: {price_per_kwh: 0.19, carbon_g_per_kwh: 380}
  timezone: Europe/Berlin
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-2, labels: {metro: frankfurt}}
spec:
  type: edge
  country: DE
  location: {lat: 50.05, lon: 8.57}
  gpus: [{sku: L4, count: 4}]
  power: {it_capacity_kw: 2}
  energy: {price_per_kwh: 0.19, carbon_g_per_kwh: 380}
  timezone: Europe/Berlin
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: par-1, labels: {metro: paris}}
spec:
  type: edge
  country: FR
  location: {lat: 48.86, lon: 2.35}
  gpus: [{sku: L4, count: 4}]
  power: {it_capacity_kw: 2}
  energy: {price_per_kwh: 0.21, carbon_g_per_kwh: 60}
  timezone: Europe/Paris
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: par-2, labels: {metro: paris}}
spec:
  type: edge
  country: FR
  location: {lat: 48.72, lon: 2.38}
  gpus: [{sku: L4, count: 4}]
  power: {it_capacity_kw: 2}
  energy: {price_per_kwh: 0.21, carbon_g_per_kwh: 60}
  timezone: Europe/Paris
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: demo-chat, labels: {team: demo}}
spec:
  type: inference
  model: demo-llm@prod
  priority: 100
  replica: {gpus: 1, gpu_memory_gb: 16}
  replicas: {min: 4, max: 8}
  demand: {eu-central: 40, eu-west: 40}
  rps_per_replica: 20
  latency_slo_ms: 5
  spread: {min_sites: 4}
  command:
    - python3
    - -c
    - |
      import functools, http.server, json, os
      model = os.environ["FLEETYARD_MODEL_DIR"]
      json.load(open(os.path.join(model, "config.json")))  # a model without its config cannot serve
      handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=model)
      handler.log_message = lambda *args: None
      http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["FLEETYARD_PORT"])), handler).serve_forever()
  env: {DEMO_GREETING: "hello from the edge"}
  rollout:                                # a new version: one site first, then the rest
    strategy: canary
    waves: [{sites: 1}, {percent: 100}]
    bake_s: 3
    health:
      probe: {http: /config.json, timeout_s: 1, period_s: 1}
      deadline_s: 30
    validate:                             # on each site, before the version serves
      command:
        - python3
        - -c
        - import json; json.load(open("config.json"))
      timeout_s: 30
    auto_rollback: true
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: demo-indexer, labels: {team: demo}}
spec:
  type: batch
  model: demo-llm@prod
  priority: 10
  replica: {gpus: 1, gpu_memory_gb: 16}
  replicas: {min: 2, max: 2}
  command:
    - python3
    - -c
    - |
      import json, os, time
      config = json.load(open(os.path.join(os.environ["FLEETYARD_MODEL_DIR"], "config.json")))
      print("indexing with", config, flush=True)
      time.sleep(10**9)
---
apiVersion: fleetyard/v1
kind: Objective
metadata: {name: default}
spec:
  carbon_price_per_tonne: 80
  resilience: none
"""
