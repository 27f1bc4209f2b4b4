"""Compact builders for small, valid fleets in tests."""

from __future__ import annotations

from typing import Any

from fleetyard.spec import Fleet, Objective, Policy, Region, Site, Workload
from fleetyard.spec.validate import check_fleet

API = "fleetyard/v1"


def region(name: str, lat: float = 50.11, lon: float = 8.68) -> Region:
    return Region.model_validate({"apiVersion": API, "kind": "Region", "metadata": {"name": name},
                                  "spec": {"location": {"lat": lat, "lon": lon}}})


def site(
    name: str,
    *,
    country: str = "DE",
    type: str = "small-dc",
    lat: float = 50.11,
    lon: float = 8.68,
    gpus: dict[str, int | tuple[int, float]] | None = None,
    it_kw: float = 100.0,
    pue: float = 1.2,
    cooling: float | None = None,
    price: float = 0.10,
    carbon: float = 300.0,
    egress: float = 0.0,
    latency: dict[str, float] | None = None,
    labels: dict[str, str] | None = None,
    servers: dict[str, dict[str, Any]] | None = None,
) -> Site:
    """`servers` adds fields to the pool of a SKU: gpus_per_server, fabric, interconnect."""
    pools = []
    for sku, spec in (gpus or {"H100-SXM": 8}).items():
        count, rent = spec if isinstance(spec, tuple) else (spec, 0.0)
        pools.append({"sku": sku, "count": count, "price_per_gpu_hour": rent, **(servers or {}).get(sku, {})})
    body: dict[str, Any] = {
        "type": type, "country": country, "location": {"lat": lat, "lon": lon}, "gpus": pools,
        "power": {"it_capacity_kw": it_kw, "pue": pue},
        "energy": {"price_per_kwh": price, "carbon_g_per_kwh": carbon},
        "egress_price_per_gb": egress,
    }
    if cooling is not None:
        body["cooling_kw"] = cooling
    if latency:
        body["latency_ms"] = latency
    return Site.model_validate({"apiVersion": API, "kind": "Site",
                                "metadata": {"name": name, "labels": labels or {}}, "spec": body})


def workload(
    name: str,
    *,
    type: str = "inference",
    gpus: int = 1,
    memory: float | None = None,
    skus: list[str] | None = None,
    power_kw: float | None = None,
    replicas: tuple[int, int | None] = (1, None),
    demand: dict[str, float] | None = None,
    rps: float | None = None,
    slo: float | None = None,
    spread: dict[str, int] | None = None,
    data: list[tuple[str, float]] | None = None,
    priority: int = 0,
    labels: dict[str, str] | None = None,
    burst: str | None = None,
    interconnect: dict[str, Any] | None = None,
) -> Workload:
    replica: dict[str, Any] = {"gpus": gpus}
    if memory is not None:
        replica["gpu_memory_gb"] = memory
    if skus is not None:
        replica["gpu_skus"] = skus
    if power_kw is not None:
        replica["power_kw"] = power_kw
    reps: dict[str, Any] = {"min": replicas[0]}
    if replicas[1] is not None:
        reps["max"] = replicas[1]
    body: dict[str, Any] = {"type": type, "model": f"{name}:1", "priority": priority,
                            "replica": replica, "replicas": reps}
    if demand:
        body["demand"] = demand
        body["rps_per_replica"] = rps if rps is not None else 10.0
    if slo is not None:
        body["latency_slo_ms"] = slo
    if spread:
        body["spread"] = spread
    if data:
        body["data"] = [{"site": s, "gb_per_hour": gb} for s, gb in data]
    if burst is not None:
        body["burst"] = burst
    if interconnect is not None:
        body["interconnect"] = interconnect
    return Workload.model_validate({"apiVersion": API, "kind": "Workload",
                                    "metadata": {"name": name, "labels": labels or {}}, "spec": body})


def policy(name: str, selector: dict[str, str], allowed: dict[str, Any] | None = None,
           denied: dict[str, Any] | None = None) -> Policy:
    return Policy.model_validate({"apiVersion": API, "kind": "Policy", "metadata": {"name": name},
                                  "spec": {"selector": selector, "allowed": allowed or {},
                                           "denied": denied or {}}})


def objective(carbon_price: float = 0.0, resilience: str = "none", standby: str = "cold",
              burst: dict[str, Any] | None = None) -> Objective:
    spec: dict[str, Any] = {"carbon_price_per_tonne": carbon_price, "resilience": resilience, "standby": standby}
    if burst is not None:
        spec["burst"] = burst
    return Objective.model_validate({"apiVersion": API, "kind": "Objective", "metadata": {"name": "default"},
                                     "spec": spec})


def fleet(*resources: Any) -> Fleet:
    f = Fleet.of(resources)
    errors = [p for p in check_fleet(f) if p.severity == "error"]
    assert not errors, errors
    return f
