"""A two-site fleet small enough to price by hand, for the showback tests.

Per hour, with the constants (no trace):

    train at a (1 replica, 2 x H100-SXM at $1.00, power_kw 3.0, PUE 1.5, $0.20/kWh, 400 g/kWh):
        rent 2.00, facility 4.5 kWh, energy 0.90, 1.8 kg, carbon 0.18 (at $100/t)
    train at b (1 replica, 2 x L4 at $0.50, power_kw 3.0, PUE 1.2, $0.10/kWh, 50 g/kWh):
        rent 1.00, facility 3.6 kWh, energy 0.36, 0.18 kg, carbon 0.018
    train egress: 10 GB/h at a's $0.05/GB x half its replicas away = 0.25, 0.125 per replica
    serve at b (2 replicas of 1 x L4, power 72 W x 1.8 = 0.1296 kW each):
        rent 1.00, IT 0.2592 kWh, facility 0.31104 kWh, energy 0.031104, 0.015552 kg, carbon 0.0015552
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fleetyard.spec import Fleet, load_fleet
from fleetyard.spec.plan import Assignment, Bound, Plan, Totals

T0 = datetime(2020, 6, 1, tzinfo=UTC)

FLEET = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu}
spec: {location: {lat: 50.0, lon: 8.0}}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: a}
spec:
  type: small-dc
  country: DE
  location: {lat: 50.1, lon: 8.7}
  gpus: [{sku: H100-SXM, count: 8, price_per_gpu_hour: 1.0}]
  power: {it_capacity_kw: 40, pue: 1.5}
  cooling_kw: 40
  energy: {price_per_kwh: 0.2, carbon_g_per_kwh: 400%(trace)s}
  egress_price_per_gb: 0.05
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: b}
spec:
  type: small-dc
  country: FR
  location: {lat: 48.9, lon: 2.4}
  gpus: [{sku: L4, count: 8, price_per_gpu_hour: 0.5}]
  power: {it_capacity_kw: 40, pue: 1.2}
  cooling_kw: 40
  energy: {price_per_kwh: 0.1, carbon_g_per_kwh: 50%(trace_b)s}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: train, labels: {team: ml, tier: gold}}
spec:
  type: batch
  model: m:1
  replica: {gpus: 2, power_kw: 3.0}
  replicas: {min: 2, max: 2}
  data: [{site: a, gb_per_hour: 10}]
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: serve, labels: {tier: silver}}
spec:
  type: batch
  model: m:1
  replica: {gpus: 1, gpu_skus: [L4]}
  replicas: {min: 2, max: 2}
---
apiVersion: fleetyard/v1
kind: Objective
metadata: {name: default}
spec: {carbon_price_per_tonne: 100}
"""

# two hours at a: (carbon, price, PUE) = (100, 0.30, 1.1), then (200, 0.10, 1.3)
TRACE = """\
time,carbon_g_per_kwh,price_per_kwh,pue
2020-06-01T00:00:00Z,100,0.30,1.1
2020-06-01T01:00:00Z,200,0.10,1.3
"""

# per hour, from the docstring
TRAIN = 2.0 + 0.9 + 0.18 + 0.125 + 1.0 + 0.36 + 0.018 + 0.125
SERVE = 1.0 + 0.031104 + 0.0015552


def write(folder: Path, *, trace: str | None = None, site: str = "a") -> Path:
    """The fleet's YAML in `folder`, with `trace` (CSV text) on `site` (a or b) if given."""
    folder.mkdir(parents=True, exist_ok=True)
    refs = {"trace": "", "trace_b": ""}
    if trace is not None:
        (folder / "traces").mkdir(exist_ok=True)
        (folder / "traces" / f"{site}.csv").write_text(trace)
        refs["trace" if site == "a" else "trace_b"] = f", trace: traces/{site}.csv"
    (folder / "fleet.yaml").write_text(FLEET % refs)
    return folder


def fleet(tmp: Path, *, trace: str | None = None, site: str = "a") -> Fleet:
    return load_fleet([write(tmp, trace=trace, site=site)]).fleet


def plan() -> Plan:
    """train on a (H100) and b (L4), serve x2 on b: the plan the docstring prices."""
    return Plan(
        assignments=[Assignment(workload="train", site="a", gpu_sku="H100-SXM", replicas=1),
                     Assignment(workload="train", site="b", gpu_sku="L4", replicas=1),
                     Assignment(workload="serve", site="b", gpu_sku="L4", replicas=2)],
        routes=[], unplaced=[], sites=[],
        totals=Totals(cost_per_hour=TRAIN + SERVE, power_kw=4.5 + 3.6 + 0.31104, carbon_kg_per_hour=0.0),
        bound=Bound(cost_per_hour_lower_bound=0.0, gap=0.0),
    )
