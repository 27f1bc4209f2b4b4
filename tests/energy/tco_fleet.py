"""A small fleet for the TCO tests: an own site, a hyperscaler region, an endpoint and a batch job."""

from __future__ import annotations

REGION = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec:
  location: {lat: 50.11, lon: 8.68}
"""

SITES = """\
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1}
spec:
  type: small-dc
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus:
    - {sku: H100-SXM, count: 16, price_per_gpu_hour: 1.27}
  power: {it_capacity_kw: 40, pue: 1.25}
  energy: {price_per_kwh: 0.17, carbon_g_per_kwh: 380}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: par-1}
spec:
  type: colo
  country: FR
  location: {lat: 48.86, lon: 2.35}
  gpus:
    - {sku: L4, count: 8}
  power: {it_capacity_kw: 10, pue: 1.5}
  energy: {price_per_kwh: 0.21, carbon_g_per_kwh: 55}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: aws-eu}
spec:
  type: hyperscaler
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus:
    - {sku: H100-SXM, count: 16, price_per_gpu_hour: 6.9}
  power: {it_capacity_kw: 100, pue: 1.15}
  energy: {price_per_kwh: 0.0, carbon_g_per_kwh: 380}
"""

WORKLOADS = """\
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: chat}
spec:
  type: inference
  model: chat:1
  replica: {gpus: 1, gpu_skus: [H100-SXM]}
  replicas: {min: 2, max: 2}
  demand: {eu-central: 80}
  rps_per_replica: 40
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: crunch}
spec:
  type: batch
  model: crunch:1
  replica: {gpus: 2, gpu_skus: [H100-SXM]}
  replicas: {min: 3, max: 3}
  data:
    - {site: par-1, gb_per_hour: 6}
"""

COST_MODEL = """\
apiVersion: fleetyard/v1
kind: CostModel
metadata: {name: default}
spec:
  years: 4
  cost_of_capital: 0.08
  colo: {price_per_kw_month: 200}
  hardware:
    capex_per_gpu: {H100-SXM: 50000}
"""
