"""Seeded generator of realistic synthetic fleets for the placement benchmark.

    from fleetgen import generate
    fleet = generate(sites=200, workloads=3000, seed=0, tightness=0.75)

    python benchmarks/fleetgen.py --sites 20 --workloads 200 --seed 0 --write /tmp/fleet
    fleetyard plan /tmp/fleet

Same arguments, same fleet (every draw comes from one `random.Random(seed)`).

Structure (figures from ../shared/REFERENCE.md unless marked "est."):

- User regions: 8-40 metros (8 + sites // 30) across Europe (~45%), North America
  (~35%) and Asia-Pacific (~20%), real city coordinates moved by up to ~0.1 degree.
- Sites cluster around the metros of those regions (scatter ~0.35 deg lat, ~0.5 deg
  lon, i.e. tens of km), weighted by the metro's data-centre market size: ~60%
  small-dc, ~22% colo, ~18% edge, plus ~2% hyperscaler regions (at least one) at
  cloud hub metros: rent at on-demand prices, energy included in the rent, egress
  $0.09/GB.
- GPUs: small-dc 1-3 pools of real SKUs, 8-256 GPUs in 8-GPU servers (log-uniform);
  colo 8-128; edge 4-16 L4 or 4-8 L40S. The hyperscaler regions together hold a
  quota of 35-50% of the owned GPUs (H100-SXM ~50%, H200 in half the regions,
  A10G, L4): burst capacity, large per region but not the bulk of the fleet.
  Owned GPUs cost their amortized all-in price per hour
  over 4.5 years (39,420 h) or 0 when the capex is sunk; colo adds its
  $150-250/kW-month fee per GPU by power share.
- Power: it_capacity_kw = GPUs x TDP x 1.8 (server factor) x U(0.7, 1.1), so about a
  third of the owned sites cannot run all their GPUs at once; cooling is below the IT
  feed at ~25% of sites. PUE: small-dc 1.10-1.45, colo and edge 1.30-1.60,
  hyperscaler 1.08-1.20 (Uptime Institute 1.56-1.58 average; Google ~1.10).
- Energy and grid carbon by country (US: by state) with +-10% noise per site.
- Workloads: ~60% inference (demand in 1-3 nearby regions, SLO 20-150 ms, 1/2/8 GPUs
  per replica, ~20% with spread min_sites 2), ~15% fine-tune (gangs of 1-4 x 8 GPUs),
  ~5% training (gangs of 2-16 x 8 GPUs), ~20% batch; memory needs and SKU
  allow-lists; priorities 10/100/500/1000; ~half of the EU-homed workloads carry
  `residency: eu` (EU/EEA countries, no hyperscaler), ~30% of JP/SG/AU/KR-homed ones
  `residency: apac`; best-effort work may not rent (no hyperscaler); training
  classes never run at the edge; input `data` at a site for ~45% of jobs.
- `tightness` sets the GPUs the workloads need (replicas.min for jobs, replicas
  needed for their demand for inference) to that share of all GPUs in the fleet.
  Gangs are big and indivisible, so they get at most 45% of that budget: on dense
  instances (many workloads per site) the generator turns the excess gangs into
  inference and batch workloads (3:1), and `describe()` reports the actual mix.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fleetyard.spec.catalog import CATALOG, SERVER_POWER_FACTOR
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.geo import estimated_rtt_ms
from fleetyard.spec.models import API_VERSION, Location, Objective, Policy, Region, Site, Workload

Doc = dict[str, Any]


@dataclass(frozen=True)
class Metro:
    name: str
    code: str
    lat: float
    lon: float
    country: str
    continent: str  # eu | na | ap
    grid: str  # key into GRID
    weight: float  # relative data-centre market size (est.)
    hub: bool = False  # a hyperscaler region is here


METROS: tuple[Metro, ...] = (
    Metro("frankfurt", "fra", 50.11, 8.68, "DE", "eu", "DE", 3.0, True),
    Metro("london", "lon", 51.51, -0.13, "GB", "eu", "GB", 3.0, True),
    Metro("amsterdam", "ams", 52.37, 4.90, "NL", "eu", "NL", 3.0),
    Metro("paris", "par", 48.86, 2.35, "FR", "eu", "FR", 2.5, True),
    Metro("dublin", "dub", 53.35, -6.26, "IE", "eu", "IE", 2.0, True),
    Metro("stockholm", "sto", 59.33, 18.07, "SE", "eu", "SE", 1.5, True),
    Metro("helsinki", "hel", 60.17, 24.94, "FI", "eu", "FI", 1.0),
    Metro("oslo", "osl", 59.91, 10.75, "NO", "eu", "NO", 1.0),
    Metro("munich", "muc", 48.14, 11.58, "DE", "eu", "DE", 1.0),
    Metro("berlin", "ber", 52.52, 13.40, "DE", "eu", "DE", 1.0),
    Metro("madrid", "mad", 40.42, -3.70, "ES", "eu", "ES", 1.2),
    Metro("milan", "mil", 45.46, 9.19, "IT", "eu", "IT", 1.2),
    Metro("warsaw", "waw", 52.23, 21.01, "PL", "eu", "PL", 1.0),
    Metro("zurich", "zrh", 47.37, 8.54, "CH", "eu", "CH", 1.0),
    Metro("vienna", "vie", 48.21, 16.37, "AT", "eu", "AT", 0.8),
    Metro("brussels", "bru", 50.85, 4.35, "BE", "eu", "BE", 0.8),
    Metro("copenhagen", "cph", 55.68, 12.57, "DK", "eu", "DK", 0.8),
    Metro("marseille", "mrs", 43.30, 5.37, "FR", "eu", "FR", 0.7),
    Metro("ashburn", "iad", 39.04, -77.49, "US", "na", "US-VA", 4.0, True),
    Metro("new-york", "nyc", 40.71, -74.01, "US", "na", "US-NY", 2.5),
    Metro("chicago", "chi", 41.88, -87.63, "US", "na", "US-IL", 2.0),
    Metro("dallas", "dfw", 32.78, -96.80, "US", "na", "US-TX", 2.0, True),
    Metro("silicon-valley", "sjc", 37.37, -121.92, "US", "na", "US-CA", 2.5, True),
    Metro("hillsboro", "pdx", 45.52, -122.99, "US", "na", "US-OR", 1.5, True),
    Metro("seattle", "sea", 47.61, -122.33, "US", "na", "US-WA", 1.0),
    Metro("los-angeles", "lax", 34.05, -118.24, "US", "na", "US-CA", 1.2),
    Metro("atlanta", "atl", 33.75, -84.39, "US", "na", "US-GA", 1.2),
    Metro("phoenix", "phx", 33.45, -112.07, "US", "na", "US-AZ", 1.2),
    Metro("des-moines", "dsm", 41.59, -93.62, "US", "na", "US-IA", 0.8),
    Metro("columbus", "cmh", 39.96, -83.00, "US", "na", "US-OH", 1.0, True),
    Metro("toronto", "yyz", 43.65, -79.38, "CA", "na", "CA-ON", 1.0),
    Metro("montreal", "yul", 45.50, -73.57, "CA", "na", "CA-QC", 1.0, True),
    Metro("tokyo", "tyo", 35.68, 139.69, "JP", "ap", "JP", 3.0, True),
    Metro("osaka", "osa", 34.69, 135.50, "JP", "ap", "JP", 1.0),
    Metro("singapore", "sin", 1.35, 103.82, "SG", "ap", "SG", 2.5, True),
    Metro("sydney", "syd", -33.87, 151.21, "AU", "ap", "AU", 2.0, True),
    Metro("melbourne", "mel", -37.81, 144.96, "AU", "ap", "AU", 1.0),
    Metro("seoul", "sel", 37.57, 126.98, "KR", "ap", "KR", 1.5, True),
    Metro("mumbai", "bom", 19.08, 72.88, "IN", "ap", "IN", 1.5, True),
    Metro("hong-kong", "hkg", 22.32, 114.17, "HK", "ap", "HK", 1.0),
)

CONTINENT_SHARE = {"eu": 0.45, "na": 0.35, "ap": 0.20}

# Industrial electricity in USD/kWh and annual grid intensity in gCO2/kWh.
# EUR converted at 1.08 USD/EUR. REFERENCE.md: DE 0.17-0.20 EUR (Bundesnetzagentur/SMARD),
# EU non-household average 0.19 EUR (Eurostat H2 2024), FI ~0.09 EUR; US 0.07-0.09 (EIA;
# IA 6.8c, OH 7.1c, IL 9.0c); intensities from Ember / Electricity Maps: DE 380, NL 330,
# IE 290, FR 55, SE 25-45, FI 70, NO 30, US 370 (VA 370, TX 400, OR 110-150), SG 470,
# JP 460, AU 550. Entries marked est. are not in REFERENCE.md: EU-average price where a
# country's own tariff is missing, Nordic-like prices for SE/NO, and rough intensities.
GRID: dict[str, tuple[float, float]] = {
    "DE": (0.19, 380),
    "NL": (0.205, 330),
    "IE": (0.205, 290),
    "FR": (0.205, 55),
    "SE": (0.10, 35),  # price est.
    "FI": (0.097, 70),
    "NO": (0.08, 30),  # price est.
    "GB": (0.25, 200),  # est.
    "ES": (0.205, 150),  # intensity est.
    "IT": (0.205, 330),  # intensity est.
    "PL": (0.205, 650),  # intensity est.
    "CH": (0.205, 40),  # est.
    "AT": (0.205, 100),  # intensity est.
    "BE": (0.205, 150),  # intensity est.
    "DK": (0.205, 150),  # intensity est.
    "US-VA": (0.08, 370),
    "US-NY": (0.08, 370),  # state est.: US range and average
    "US-IL": (0.09, 370),
    "US-TX": (0.07, 400),
    "US-CA": (0.09, 370),  # state est.
    "US-OR": (0.07, 130),
    "US-WA": (0.07, 120),  # est., hydro-heavy like OR
    "US-GA": (0.08, 370),  # state est.
    "US-AZ": (0.08, 370),  # state est.
    "US-IA": (0.068, 370),
    "US-OH": (0.071, 370),
    "CA-ON": (0.09, 40),  # est.
    "CA-QC": (0.06, 5),  # est., hydro
    "JP": (0.15, 460),  # price est. (~23 JPY/kWh)
    "SG": (0.19, 470),  # price est.
    "AU": (0.12, 550),  # price est.
    "KR": (0.11, 420),  # est.
    "IN": (0.09, 700),  # est.
    "HK": (0.13, 600),  # est.
}

EU_EEA = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
]
APAC_RESIDENT = ["JP", "SG", "AU", "KR"]

AMORTIZATION_HOURS = 4.5 * 8760  # 39,420 h
# All-in cost per owned GPU in USD (server share included). H100 $47-52k (REFERENCE.md);
# the others scale from the purchase prices there (H200 ~$32k vs H100 ~$30k, A100 ~$15k,
# MI300X ~$15k) or are est.
ALL_IN_USD = {
    "H100-SXM": 50_000,
    "H200": 52_000,
    "B200": 65_000,
    "A100-80GB": 30_000,
    "H100-PCIE": 40_000,
    "MI300X": 32_000,
    "L40S": 15_000,
    "L4": 5_000,
}
# Hyperscaler on-demand rent per GPU-hour (REFERENCE.md: H100 ~$6.9 est., H200 p5e $5.41,
# A10G ~$1.0-1.3, L4 ~$0.8 est.).
CLOUD_PRICE = {"H100-SXM": 6.90, "H200": 5.41, "A10G": 1.01, "L4": 0.80}
OWNED_SKUS = ("H100-SXM", "H200", "B200", "A100-80GB", "L40S", "H100-PCIE", "MI300X")
OWNED_WEIGHTS = (0.30, 0.12, 0.06, 0.15, 0.20, 0.07, 0.10)
TEAMS = (
    "search",
    "support",
    "devtools",
    "voice",
    "vision",
    "research",
    "ads",
    "risk",
    "docs",
    "recsys",
)
TIER = {10: "best-effort", 100: "internal", 500: "production", 1000: "critical"}
SLOS = (20, 30, 40, 60, 80, 100, 150)
SLO_WEIGHTS = (0.08, 0.12, 0.2, 0.2, 0.15, 0.13, 0.12)
GANG_SHARE_CAP = 0.45


def _doc(kind: str, name: str, spec: Doc, labels: dict[str, str] | None = None) -> Doc:
    meta: Doc = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def _weighted_sample(rng: random.Random, items: Sequence[Metro], k: int) -> list[Metro]:
    """k distinct items, heavier ones more likely (Efraimidis-Spirakis keys)."""
    keyed = sorted(items, key=lambda m: -(rng.random() ** (1.0 / m.weight)))
    return keyed[:k]


def _pick(rng: random.Random, cum: list[float], items: Sequence[Any]) -> Any:
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


def _choice(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Any:
    return _pick(rng, list(itertools.accumulate(weights)), items)


def _dist_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def _n_regions(sites: int) -> int:
    return max(8, min(40, 8 + sites // 30))


def _choose_metros(rng: random.Random, n: int) -> list[Metro]:
    out: list[Metro] = []
    left = n
    for i, (cont, share) in enumerate(CONTINENT_SHARE.items()):
        pool = [m for m in METROS if m.continent == cont]
        k = left if i == len(CONTINENT_SHARE) - 1 else min(len(pool), max(2, round(n * share)))
        k = min(k, len(pool))
        out.extend(_weighted_sample(rng, pool, k))
        left -= k
    return out


# ----------------------------------------------------------------------------- sites


def _servers(rng: random.Random, lo_exp: float, hi_exp: float) -> int:
    """Number of 8-GPU servers, log-uniform between 2**lo_exp and 2**hi_exp."""
    return max(1, round(2 ** rng.uniform(lo_exp, hi_exp)))


def _power(rng: random.Random, pools: list[Doc], spec: Doc, low: float, high: float) -> None:
    nameplate = sum(p["count"] * CATALOG[p["sku"]].tdp_w for p in pools) * SERVER_POWER_FACTOR / 1000
    it = round(max(1.0, nameplate * rng.uniform(low, high)), 1)
    spec["power"] = {"it_capacity_kw": it, "pue": 0.0}
    r = rng.random()
    if r < 0.25:
        spec["cooling_kw"] = round(it * rng.uniform(0.8, 0.97), 1)
    elif r < 0.65:
        spec["cooling_kw"] = round(it * rng.uniform(1.0, 1.3), 1)


def _owned_pools(rng: random.Random, servers: int, colo_fee: float | None) -> list[Doc]:
    n_pools = min(servers, _choice(rng, (1, 2, 3), (0.55, 0.35, 0.10)))
    skus: list[str] = []
    while len(skus) < n_pools:
        sku = _choice(rng, OWNED_SKUS, OWNED_WEIGHTS)
        if sku not in skus:
            skus.append(sku)
    # split the servers among the pools, each at least one
    cuts = sorted(rng.sample(range(1, servers), n_pools - 1)) if n_pools > 1 else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, servers], strict=True)]
    pools = []
    for sku, size in zip(skus, sizes, strict=True):
        sunk = rng.random() < (0.5 if sku in ("A100-80GB", "L40S") else 0.15)
        price = 0.0 if sunk else ALL_IN_USD[sku] / AMORTIZATION_HOURS
        if colo_fee is not None:  # the colo's $/kW-month by this GPU's share of server power
            price += CATALOG[sku].tdp_w * SERVER_POWER_FACTOR / 1000 * colo_fee / 730
        pools.append({"sku": sku, "count": 8 * size, "price_per_gpu_hour": round(price, 3)})
    return pools


def _site(
    rng: random.Random,
    metro: Metro,
    kind: str,
    name: str,
    regions: dict[str, Doc],
    metro_region: dict[str, str],
    cloud_gpus: int = 0,
) -> Doc:
    if kind == "hyperscaler":
        lat, lon = metro.lat + rng.uniform(-0.05, 0.05), metro.lon + rng.uniform(-0.05, 0.05)
    else:
        lat = max(-89.0, min(89.0, metro.lat + rng.gauss(0, 0.35)))
        lon = max(-179.0, min(179.0, metro.lon + rng.gauss(0, 0.5)))
    spec: Doc = {
        "type": kind,
        "country": metro.country,
        "location": {"lat": round(lat, 3), "lon": round(lon, 3)},
    }
    price_kwh, carbon = GRID[metro.grid]
    if kind == "hyperscaler":
        # the quota this fleet can burst into: H100 ~50%, H200 ~20% (half the regions), A10G, L4
        shares = [
            ("H100-SXM", 0.5),
            ("H200", 0.2 if rng.random() < 0.5 else 0.0),
            ("A10G", 0.15),
            ("L4", 0.15),
        ]
        norm = sum(f for _, f in shares)
        pools = [
            {
                "sku": sku,
                "count": 8 * max(1, round(cloud_gpus * f / norm / 8)),
                "price_per_gpu_hour": CLOUD_PRICE[sku],
            }
            for sku, f in shares
            if f > 0
        ]
        spec["gpus"] = pools
        _power(rng, pools, spec, 1.05, 1.05)
        spec.pop("cooling_kw", None)
        pue = rng.uniform(1.08, 1.20)
        price_kwh = 0.0  # energy is in the rent
        egress = 0.09
        uplink = 400.0
    elif kind == "edge":
        if rng.random() < 0.6:
            pools = [{"sku": "L4", "count": 4 * rng.randint(1, 4), "price_per_gpu_hour": 0.0}]
        else:
            pools = [{"sku": "L40S", "count": 4 * rng.randint(1, 2), "price_per_gpu_hour": 0.0}]
        if rng.random() < 0.5:
            pools[0]["price_per_gpu_hour"] = round(ALL_IN_USD[pools[0]["sku"]] / AMORTIZATION_HOURS, 3)
        spec["gpus"] = pools
        _power(rng, pools, spec, 0.7, 1.1)
        pue = rng.uniform(1.3, 1.6)
        egress = 0.0
        uplink = rng.choice((1.0, 2.5, 10.0))
    elif kind == "colo":
        spec["gpus"] = _owned_pools(rng, _servers(rng, 0.0, 4.0), rng.uniform(150, 250))
        _power(rng, spec["gpus"], spec, 0.7, 1.1)
        pue = rng.uniform(1.3, 1.6)
        egress = 0.02 if rng.random() < 0.3 else 0.0  # metered transit (est.)
        uplink = rng.choice((10.0, 25.0, 40.0))
    else:
        spec["gpus"] = _owned_pools(rng, _servers(rng, 0.0, 5.0), None)
        _power(rng, spec["gpus"], spec, 0.7, 1.1)
        pue = rng.uniform(1.1, 1.45)
        egress = 0.0
        uplink = rng.choice((10.0, 25.0, 40.0, 100.0))
    spec["power"]["pue"] = round(pue, 2)
    spec["energy"] = {
        "price_per_kwh": round(price_kwh * rng.uniform(0.9, 1.1), 4),
        "carbon_g_per_kwh": round(carbon * rng.uniform(0.9, 1.1)),
    }
    spec["egress_price_per_gb"] = egress
    spec["network"] = {"uplink_gbps": uplink}
    region = metro_region[metro.name]
    if kind != "hyperscaler" and rng.random() < 0.15:  # a measured RTT from the ping mesh
        loc = regions[region]["spec"]["location"]
        est = estimated_rtt_ms(Location(lat=lat, lon=lon), Location(lat=loc["lat"], lon=loc["lon"]))
        spec["latency_ms"] = {region: round(max(0.5, est * rng.uniform(0.7, 1.3)), 1)}
    return _doc(
        "Site",
        name,
        spec,
        {"metro": metro.name, "owner": "cloud" if kind == "hyperscaler" else "platform"},
    )


# ------------------------------------------------------------------------- workloads

# (share, GPUs per replica, memory GB, weighted allow-lists, rps per replica range, model)
INFERENCE_SHAPES: tuple[
    tuple[float, int, float, tuple[tuple[list[str] | None, float], ...], tuple[float, float], str],
    ...,
] = (
    (
        0.50,
        1,
        24,
        (
            (None, 0.4),
            (["L4", "A10G", "L40S"], 0.3),
            (["L4", "L40S"], 0.15),
            (["L40S", "A100-80GB", "H100-PCIE"], 0.15),
        ),
        (10, 40),
        "chat-8b",
    ),
    (
        0.30,
        1,
        48,
        (
            (None, 0.4),
            (["L40S", "H100-PCIE", "A100-80GB"], 0.3),
            (["H100-SXM", "H100-PCIE", "H200"], 0.3),
        ),
        (8, 25),
        "code-34b",
    ),
    (
        0.17,
        2,
        80,
        ((["H100-SXM", "H200"], 0.5), (["H100-SXM", "H200", "MI300X"], 0.25), (None, 0.25)),
        (5, 20),
        "assist-70b",
    ),
    (0.02, 8, 80, ((["H100-SXM", "H200", "B200"], 1.0),), (2, 8), "frontier-405b"),
    (0.01, 4, 141, ((["H200", "B200", "MI300X"], 1.0),), (2, 8), "frontier-405b"),
)
FT_SKUS: tuple[tuple[list[str] | None, float], ...] = (
    (["H100-SXM", "H200"], 0.6),
    (["H100-SXM", "H200", "B200"], 0.2),
    (["A100-80GB", "H100-SXM"], 0.1),
    (["MI300X"], 0.05),
    (None, 0.05),
)
TRAIN_SKUS: tuple[tuple[list[str] | None, float, float], ...] = (
    (["H100-SXM", "H200"], 80, 0.45),
    (["B200"], 180, 0.2),
    (["H200", "B200"], 141, 0.2),
    (["MI300X"], 192, 0.1),
    (["A100-80GB"], 80, 0.05),
)
BATCH_SHAPES: tuple[tuple[list[str] | None, float, float], ...] = (
    (["L4", "L40S", "A10G"], 16, 0.5),
    (None, 24, 0.25),
    (["A100-80GB", "L40S", "H100-PCIE"], 40, 0.25),
)


@dataclass
class _Job:
    """A workload before its size is fixed by the GPU budget."""

    kind: str
    name: str
    home: Metro
    priority: int
    labels: dict[str, str]
    spec: Doc
    gpus: int  # per replica
    weight: float = 1.0  # relative size (inference, batch)
    floor: int = 1  # minimum replicas
    rpr: float = 0.0
    shares: tuple[tuple[str, float], ...] = ()
    fill: float = 1.0  # share of the last replica's capacity that demand uses


def _allow(rng: random.Random, options: Sequence[tuple[list[str] | None, float]]) -> list[str] | None:
    skus = _choice(rng, [o[0] for o in options], [o[1] for o in options])
    return list(skus) if skus is not None else None


def _neighbours(home: Metro, metros: list[Metro]) -> list[Metro]:
    """Up to 3 nearest other metros of the same continent within 2,500 km."""
    near = sorted(
        (m for m in metros if m.continent == home.continent and m is not home),
        key=lambda m: _dist_km((home.lat, home.lon), (m.lat, m.lon)),
    )
    return [m for m in near[:3] if _dist_km((home.lat, home.lon), (m.lat, m.lon)) < 2500]


def _demand_regions(rng: random.Random, home: Metro, near: list[Metro]) -> list[Metro]:
    k = _choice(rng, (1, 2, 3), (0.5, 0.35, 0.15))
    extra = rng.sample(near, min(k - 1, len(near)))
    return [home, *extra]


def _inference(rng: random.Random, i: int, home: Metro, near: list[Metro], region_of: dict[str, str]) -> _Job:
    shape = _choice(rng, INFERENCE_SHAPES, [s[0] for s in INFERENCE_SHAPES])
    _, gpus, memory, allow, (rlo, rhi), family = shape
    priority = _choice(rng, (10, 100, 500, 1000), (0.1, 0.3, 0.35, 0.25))
    rpr = float(round(rng.uniform(rlo, rhi)))
    regions = _demand_regions(rng, home, near)
    raw = [1.0] + [rng.uniform(0.2, 0.8) for _ in regions[1:]]
    shares = tuple((region_of[m.name], r / sum(raw)) for m, r in zip(regions, raw, strict=True))
    spread = rng.random() < 0.2
    floor = 2 if spread or priority == 1000 else 1
    replica: Doc = {"gpus": gpus, "gpu_memory_gb": memory}
    skus = _allow(rng, allow)
    if skus:
        replica["gpu_skus"] = skus
    if gpus == 2 and skus == ["H100-SXM", "H200"] and rng.random() < 0.3:
        replica["power_kw"] = 2.55  # 2 x DGX H100 10.2 kW / 8
    spec: Doc = {
        "type": "inference",
        "model": f"{family}:{rng.randint(1, 9)}",
        "priority": priority,
        "replica": replica,
        "rps_per_replica": rpr,
        "latency_slo_ms": float(_choice(rng, SLOS, SLO_WEIGHTS)),
    }
    if spread:
        spec["spread"] = {"min_sites": 2}
    labels = {"team": rng.choice(TEAMS), "tier": TIER[priority]}
    return _Job(
        "inference",
        f"inf-{i:05d}",
        home,
        priority,
        labels,
        spec,
        gpus,
        weight=rng.lognormvariate(0.0, 1.0),
        floor=floor,
        rpr=rpr,
        shares=shares,
        fill=rng.uniform(0.75, 1.0),
    )


def _gang(rng: random.Random, i: int, kind: str, home: Metro) -> _Job:
    labels = {"team": rng.choice(TEAMS), "class": "training"}
    if kind == "fine-tune":
        n = _choice(rng, (1, 2, 3, 4), (0.5, 0.25, 0.15, 0.1))
        priority = _choice(rng, (10, 100, 500), (0.15, 0.5, 0.35))
        replica: Doc = {"gpus": 8, "gpu_memory_gb": 80.0}
        skus = _allow(rng, FT_SKUS)
        model = f"ft-{rng.choice(('chat-8b', 'code-34b', 'assist-70b'))}:{rng.randint(1, 20)}"
        name = f"ft-{i:05d}"
    else:
        n = _choice(rng, (2, 4, 8, 16), (0.5, 0.3, 0.15, 0.05))
        priority = _choice(rng, (10, 100, 500), (0.2, 0.6, 0.2))
        option = _choice(rng, TRAIN_SKUS, [o[2] for o in TRAIN_SKUS])
        skus = list(option[0]) if option[0] else None
        replica = {"gpus": 8, "gpu_memory_gb": float(option[1])}
        model = f"pretrain-{rng.choice(('lm-7b', 'lm-34b', 'vit-g', 'speech-2b'))}:{rng.randint(1, 5)}"
        name = f"train-{i:05d}"
    if skus:
        replica["gpu_skus"] = skus
    labels["tier"] = TIER[priority]
    spec: Doc = {
        "type": kind,
        "model": model,
        "priority": priority,
        "replica": replica,
        "replicas": {"min": n, "max": n},
    }
    return _Job(kind, name, home, priority, labels, spec, 8, floor=n)


def _batch(rng: random.Random, i: int, home: Metro) -> _Job:
    skus, memory, _ = _choice(rng, BATCH_SHAPES, [b[2] for b in BATCH_SHAPES])
    gpus = _choice(rng, (1, 2, 4), (0.85, 0.1, 0.05))
    priority = _choice(rng, (10, 100, 500), (0.5, 0.4, 0.1))
    replica: Doc = {"gpus": gpus, "gpu_memory_gb": float(memory)}
    if skus:
        replica["gpu_skus"] = list(skus)
    spec: Doc = {
        "type": "batch",
        "model": f"{rng.choice(('embed-m', 'whisper-large', 'vision-tagger', 'rerank-s'))}:{rng.randint(1, 9)}",
        "priority": priority,
        "replica": replica,
    }
    labels = {"team": rng.choice(TEAMS), "tier": TIER[priority]}
    return _Job(
        "batch",
        f"batch-{i:05d}",
        home,
        priority,
        labels,
        spec,
        gpus,
        weight=rng.lognormvariate(0.0, 0.8),
    )


def _replicas(jobs: list[_Job], budget: float) -> list[int]:
    """Replicas per job so that sum(replicas x gpus) is close to `budget` (bisection on a scale).

    A job's share of the budget is proportional to its weight x GPUs per replica."""
    if not jobs:
        return []
    weight = np.array([j.weight for j in jobs])
    gpus = np.array([j.gpus for j in jobs], dtype=np.int64)
    floor = np.array([j.floor for j in jobs], dtype=np.int64)
    unit = budget * weight / float((weight * gpus).sum() or 1.0)

    def sizes(scale: float) -> np.ndarray:
        return np.maximum(floor, np.rint(scale * unit).astype(np.int64))

    def used(scale: float) -> float:
        return float((sizes(scale) * gpus).sum())

    if used(0.0) >= budget:
        return [int(n) for n in sizes(0.0)]
    lo, hi = 0.0, 1.0
    while used(hi) < budget and hi < 1e6:
        hi *= 2
    for _ in range(50):
        mid = (lo + hi) / 2
        if used(mid) < budget:
            lo = mid
        else:
            hi = mid
    best = lo if abs(used(lo) - budget) <= abs(used(hi) - budget) else hi
    return [int(n) for n in sizes(best)]


def documents(sites: int, workloads: int, seed: int = 0, tightness: float = 0.75) -> list[Doc]:
    """The fleet as format-v1 documents (plain dicts), in a fixed order."""
    if sites < 1 or workloads < 0:
        raise ValueError("need at least one site and no negative workload count")
    rng = random.Random(seed)
    metros = _choose_metros(rng, _n_regions(sites))
    region_of = {m.name: f"{m.continent}-{m.name}" for m in metros}
    regions: dict[str, Doc] = {}
    for m in metros:
        loc = {
            "lat": round(m.lat + rng.uniform(-0.1, 0.1), 3),
            "lon": round(m.lon + rng.uniform(-0.1, 0.1), 3),
        }
        regions[region_of[m.name]] = _doc("Region", region_of[m.name], {"location": loc})
    metro_cum = list(itertools.accumulate(m.weight for m in metros))

    # sites: owned sites around the metros, then hyperscaler regions at hub metros whose
    # GPU quota together is 35-50% of the owned GPUs (burst capacity, not the main fleet)
    hubs = [m for m in metros if m.hub] or sorted(metros, key=lambda m: -m.weight)[:1]
    n_cloud = min(max(1, round(sites * 0.02)), sites - 1) if sites > 1 else 0
    kinds: list[tuple[Metro, str]] = []
    for _ in range(sites - n_cloud):
        kinds.append(
            (
                _pick(rng, metro_cum, metros),
                _choice(rng, ("small-dc", "colo", "edge"), (0.6, 0.22, 0.18)),
            )
        )
    kinds.extend((hubs[k % len(hubs)], "hyperscaler") for k in range(n_cloud))
    counters: dict[tuple[str, str], int] = {}
    code = {"small-dc": "dc", "colo": "colo", "edge": "edge", "hyperscaler": "cloud"}
    site_docs: list[Doc] = []
    by_metro: dict[str, list[str]] = {m.name: [] for m in metros}
    cloud_sites: list[str] = []
    owned = 0
    for metro, kind in kinds:
        key = (metro.code, kind)
        counters[key] = counters.get(key, 0) + 1
        name = f"{metro.code}-{code[kind]}-{counters[key]}"
        quota = round(owned * rng.uniform(0.35, 0.5) / n_cloud) if kind == "hyperscaler" else 0
        doc = _site(rng, metro, kind, name, regions, region_of, quota)
        site_docs.append(doc)
        if kind == "hyperscaler":
            cloud_sites.append(name)
        else:
            by_metro[metro.name].append(name)
            owned += sum(p["count"] for p in doc["spec"]["gpus"])
    supply = sum(p["count"] for s in site_docs for p in s["spec"]["gpus"])
    budget = tightness * supply

    # workload mix; gangs capped at GANG_SHARE_CAP of the GPU budget (excess becomes batch)
    n_inf = round(0.60 * workloads)
    n_ft = round(0.15 * workloads)
    n_tr = round(0.05 * workloads)
    expected_gang = n_ft * 8 * 1.85 + n_tr * 8 * 4.2
    if expected_gang > GANG_SHARE_CAP * budget:
        f = GANG_SHARE_CAP * budget / expected_gang
        n_ft, n_tr = int(n_ft * f), int(n_tr * f)
        n_inf = round((workloads - n_ft - n_tr) * 0.75)  # keep inference:batch at 60:20
    n_batch = workloads - n_inf - n_ft - n_tr
    types = ["inference"] * n_inf + ["fine-tune"] * n_ft + ["training"] * n_tr + ["batch"] * n_batch
    rng.shuffle(types)

    neighbours = {m.name: _neighbours(m, metros) for m in metros}
    jobs: list[_Job] = []
    for i, kind in enumerate(types, start=1):
        home = _pick(rng, metro_cum, metros)
        if kind == "inference":
            job = _inference(rng, i, home, neighbours[home.name], region_of)
        elif kind == "batch":
            job = _batch(rng, i, home)
        else:
            job = _gang(rng, i, kind, home)
        if home.continent == "eu" and home.country in EU_EEA and rng.random() < 0.5:
            job.labels["residency"] = "eu"
        elif home.country in APAC_RESIDENT and rng.random() < 0.3:
            job.labels["residency"] = "apac"
        if kind != "inference":
            chance = {"batch": 0.3, "fine-tune": 0.6, "training": 0.7}[kind]
            if rng.random() < chance:
                local = by_metro[home.name]
                if cloud_sites and (not local or rng.random() < 0.25):
                    site = rng.choice(cloud_sites)
                else:
                    site = rng.choice(local) if local else site_docs[0]["metadata"]["name"]
                lo, hi = {"batch": (1, 20), "fine-tune": (1, 10), "training": (5, 40)}[kind]
                job.spec["data"] = [{"site": site, "gb_per_hour": float(rng.randint(lo, hi))}]
        jobs.append(job)

    gang_gpus = sum(j.floor * j.gpus for j in jobs if j.kind in ("fine-tune", "training"))
    rest = max(0.0, budget - gang_gpus)
    inf = [j for j in jobs if j.kind == "inference"]
    bat = [j for j in jobs if j.kind == "batch"]
    inf_share = 0.75 if bat else 1.0
    for j, n in zip(inf, _replicas(inf, rest * inf_share if inf else 0.0), strict=True):
        rps_total = max(j.rpr * 0.5, (n - 1) * j.rpr + j.fill * j.rpr)
        j.spec["demand"] = {r: round(rps_total * s, 1) for r, s in j.shares}
        lo = max(j.floor, 1)
        j.spec["replicas"] = {"min": lo, "max": max(lo, math.ceil(n * rng.uniform(1.5, 3.0)) + 1)}
    for j, n in zip(bat, _replicas(bat, rest * (1 - inf_share)), strict=True):
        j.spec["replicas"] = {"min": n, "max": n * 2}

    workload_docs = [_doc("Workload", j.name, j.spec, j.labels) for j in jobs]
    policies: list[Doc] = []
    used_labels = {item for j in jobs for item in j.labels.items()}
    if ("residency", "eu") in used_labels:
        policies.append(
            _doc(
                "Policy",
                "eu-residency",
                {
                    "selector": {"residency": "eu"},
                    "allowed": {
                        "countries": list(EU_EEA),
                        "site_types": ["small-dc", "colo", "edge"],
                    },
                },
            )
        )
    if ("residency", "apac") in used_labels:
        policies.append(
            _doc(
                "Policy",
                "apac-residency",
                {"selector": {"residency": "apac"}, "allowed": {"countries": list(APAC_RESIDENT)}},
            )
        )
    if ("class", "training") in used_labels:
        policies.append(
            _doc(
                "Policy",
                "no-edge-for-training",
                {
                    "selector": {"class": "training"},
                    "allowed": {"site_types": ["small-dc", "colo", "hyperscaler"]},
                },
            )
        )
    if ("tier", "best-effort") in used_labels:
        policies.append(
            _doc(
                "Policy",
                "best-effort-owned-only",
                {
                    "selector": {"tier": "best-effort"},
                    "allowed": {"site_types": ["small-dc", "colo", "edge"]},
                },
            )
        )
    objective = _doc("Objective", "default", {"carbon_price_per_tonne": 80.0, "resilience": "none"})
    return [*regions.values(), *site_docs, *workload_docs, *policies, objective]


_MODELS = {
    "Region": Region,
    "Site": Site,
    "Workload": Workload,
    "Policy": Policy,
    "Objective": Objective,
}


def fleet_from_documents(docs: Sequence[Doc]) -> Fleet:
    """Validate every document with its pydantic model (the same path as YAML loading)."""
    return Fleet.of(_MODELS[d["kind"]].model_validate(d) for d in docs)


def generate(sites: int, workloads: int, seed: int = 0, tightness: float = 0.75) -> Fleet:
    """A realistic synthetic fleet whose GPU demand is ~ tightness x its GPU supply."""
    return fleet_from_documents(documents(sites, workloads, seed, tightness))


def required_gpus(fleet: Fleet) -> int:
    """GPUs the workloads need: replicas.min of jobs, replicas for all demand of inference."""
    total = 0
    for w in fleet.workloads.values():
        spec = w.spec
        n = spec.replicas.min
        if spec.type == "inference" and spec.rps_per_replica:
            n = max(n, math.ceil(sum(spec.demand.values()) / spec.rps_per_replica - 1e-9))
        total += n * spec.replica.gpus
    return total


def describe(fleet: Fleet) -> dict[str, Any]:
    """Counts that say what kind of instance this is."""
    types: dict[str, int] = {}
    for s in fleet.sites.values():
        types[s.spec.type] = types.get(s.spec.type, 0) + 1
    mix: dict[str, int] = {}
    for w in fleet.workloads.values():
        mix[w.spec.type] = mix.get(w.spec.type, 0) + 1
    supply = sum(p.count for s in fleet.sites.values() for p in s.spec.gpus)
    need = required_gpus(fleet)
    return {
        "regions": len(fleet.regions),
        "sites": len(fleet.sites),
        "site_types": types,
        "workloads": len(fleet.workloads),
        "mix": mix,
        "gpus": supply,
        "gpus_needed": need,
        "demand_ratio": round(need / supply, 3) if supply else 0.0,
        "pools": sum(len(s.spec.gpus) for s in fleet.sites.values()),
        "policies": list(fleet.policies),
    }


def write(docs: Sequence[Doc], folder: Path) -> list[Path]:
    """Write the documents as YAML files (format v1), one file per kind."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "Region": "regions.yaml",
        "Site": "sites.yaml",
        "Workload": "workloads.yaml",
        "Policy": "policies.yaml",
        "Objective": "objective.yaml",
    }
    out = []
    for kind, file in files.items():
        group = [d for d in docs if d["kind"] == kind]
        if not group:
            continue
        path = folder / file
        with path.open("w", encoding="utf-8") as fh:
            fh.write(f"# generated by benchmarks/fleetgen.py: {len(group)} {kind} resources\n")
            yaml.dump_all(group, fh, Dumper=dumper, sort_keys=False, default_flow_style=None, width=120)
        out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--workloads", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tightness", type=float, default=0.75)
    ap.add_argument("--write", type=Path, metavar="DIR", help="write the fleet as YAML files into DIR")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    docs = documents(args.sites, args.workloads, args.seed, args.tightness)
    fleet = fleet_from_documents(docs)
    took = time.perf_counter() - t0
    info = describe(fleet)
    print(f"generated in {took:.2f} s: {info}")
    if args.write:
        files = write(docs, args.write)
        print(f"wrote {len(files)} files to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
