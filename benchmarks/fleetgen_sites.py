"""Sites of the synthetic fleet generator: pools, power, prices (see fleetgen.py)."""

from __future__ import annotations

import random

from fleetgen_data import (
    ALL_IN_USD,
    AMORTIZATION_HOURS,
    CLOUD_PRICE,
    GRID,
    OWNED_SKUS,
    OWNED_WEIGHTS,
    Doc,
    Metro,
    make_doc,
    weighted_choice,
)

from fleetyard.spec.catalog import CATALOG, SERVER_POWER_FACTOR
from fleetyard.spec.geo import estimated_rtt_ms
from fleetyard.spec.models import Location

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
    n_pools = min(servers, weighted_choice(rng, (1, 2, 3), (0.55, 0.35, 0.10)))
    skus: list[str] = []
    while len(skus) < n_pools:
        sku = weighted_choice(rng, OWNED_SKUS, OWNED_WEIGHTS)
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


def make_site(
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
    return make_doc(
        "Site",
        name,
        spec,
        {"metro": metro.name, "owner": "cloud" if kind == "hyperscaler" else "platform"},
    )
