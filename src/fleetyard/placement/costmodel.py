"""The hourly cost model, in one place, so that time-varying prices can plug in later.

    replica cost/h = GPU rent          gpus x price_per_gpu_hour
                   + energy            power_kw x PUE x price_per_kwh
                   + carbon            power_kw x PUE x carbon_g_per_kwh / 1e6 x carbon_price_per_tonne
    workload egress/h = sum over data sources d:
                        gb_per_hour(d) x egress_price(site of d) x share of replicas not at site d

`power_kw` is IT power (the GPUs and the server around them); the facility draws
IT x PUE. The optimizer is linear, so it charges egress per replica placed away from
the data as gb_per_hour x price / replicas.min - exact whenever the workload runs
its minimum count, which jobs always do; plans are always *reported* with the exact
share formula above (`plan_costs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from fleetyard.placement.context import Compiled, FloatArray
from fleetyard.spec.models import Workload

GRAMS_PER_TONNE = 1e6


def per_it_kwh(pue: FloatArray, price_per_kwh: FloatArray, carbon_g_per_kwh: FloatArray,
               carbon_price_per_tonne: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Energy cost, kg CO2 and carbon cost of one IT kWh (PUE included): the one energy formula,
    shared by the planner (a constant per site) and by showback (a value per site and hour)."""
    facility = np.asarray(pue, dtype=np.float64)
    grams = facility * carbon_g_per_kwh
    return facility * price_per_kwh, grams / 1000.0, grams / GRAMS_PER_TONNE * carbon_price_per_tonne


@dataclass(frozen=True)
class ReplicaCosts:
    """Per-pool hourly figures of one replica of one workload (arrays over all pools)."""

    rent: FloatArray
    energy: FloatArray
    carbon_cost: FloatArray
    carbon_kg: FloatArray
    egress: FloatArray  # linearized per replica away from the data
    power_kw: FloatArray  # IT kW

    @property
    def total(self) -> FloatArray:
        out: FloatArray = self.rent + self.energy + self.carbon_cost + self.egress
        return out


class CostModel:
    """Prices every (workload, pool) pair; the only place costs are computed."""

    def __init__(self, compiled: Compiled, carbon_price_per_tonne: float | None = None) -> None:
        self.c = compiled
        price = (
            carbon_price_per_tonne
            if carbon_price_per_tonne is not None
            else compiled.fleet.objective.spec.carbon_price_per_tonne
        )
        self.carbon_price_per_tonne = float(price)
        # Cost and carbon per IT kWh at each site, PUE included.
        self.energy_per_it_kwh, self.carbon_kg_per_it_kwh, self.carbon_cost_per_it_kwh = per_it_kwh(
            compiled.pue, compiled.energy_price, compiled.carbon_g_per_kwh, self.carbon_price_per_tonne)

    def replica_costs(self, w: Workload) -> ReplicaCosts:
        c = self.c
        power = c.replica_power_kw(w)
        site = c.pool_site
        egress = np.zeros(c.n_pools)
        n_ref = max(1, w.spec.replicas.min)
        for source in w.spec.data:
            d = c.site_index.get(source.site)
            if d is None:
                continue
            away = site != d
            egress += away * (source.gb_per_hour * c.egress_price[d] / n_ref)
        return ReplicaCosts(
            rent=w.spec.replica.gpus * c.pool_price,
            energy=power * self.energy_per_it_kwh[site],
            carbon_cost=power * self.carbon_cost_per_it_kwh[site],
            carbon_kg=power * self.carbon_kg_per_it_kwh[site],
            egress=egress,
            power_kw=power,
        )

    def egress_per_hour(self, w: Workload, replicas_by_site: Mapping[int, int]) -> float:
        """Exact egress of a placed workload: data read away from its site, by replica share."""
        total = sum(replicas_by_site.values())
        if total == 0:
            return 0.0
        out = 0.0
        for source in w.spec.data:
            d = self.c.site_index.get(source.site)
            if d is None:
                continue
            away = total - replicas_by_site.get(d, 0)
            out += source.gb_per_hour * float(self.c.egress_price[d]) * away / total
        return out


@dataclass(frozen=True)
class CostBreakdown:
    rent: float = 0.0
    energy: float = 0.0
    carbon_cost: float = 0.0
    egress: float = 0.0
    carbon_kg: float = 0.0
    it_kw: float = 0.0
    facility_kw: float = 0.0

    @property
    def total(self) -> float:
        return self.rent + self.energy + self.carbon_cost + self.egress

    def __add__(self, other: CostBreakdown) -> CostBreakdown:
        return CostBreakdown(
            self.rent + other.rent,
            self.energy + other.energy,
            self.carbon_cost + other.carbon_cost,
            self.egress + other.egress,
            self.carbon_kg + other.carbon_kg,
            self.it_kw + other.it_kw,
            self.facility_kw + other.facility_kw,
        )


def plan_costs(
    model: CostModel, placements: Iterable[tuple[Workload, int, int]]
) -> tuple[dict[str, CostBreakdown], dict[int, CostBreakdown]]:
    """Exact hourly cost per workload and per site of (workload, pool, replicas) triples.

    Egress is charged to the workload (and to the site of the replicas reading remotely).
    """
    by_workload: dict[str, list[tuple[int, int]]] = {}
    workloads: dict[str, Workload] = {}
    for w, pool, n in placements:
        if n > 0:
            by_workload.setdefault(w.name, []).append((pool, n))
            workloads[w.name] = w
    per_w: dict[str, CostBreakdown] = {}
    per_s: dict[int, CostBreakdown] = {}
    c = model.c
    for name, items in by_workload.items():
        w = workloads[name]
        shape = w.spec.replica
        per_site: dict[int, int] = {}
        for pool, n in items:
            s = int(c.pool_site[pool])
            per_site[s] = per_site.get(s, 0) + n
        total_replicas = sum(per_site.values())
        egress_total = model.egress_per_hour(w, per_site)
        acc = CostBreakdown()
        for pool, n in items:
            s = int(c.pool_site[pool])
            it = c.replica_power_at(w, pool) * n
            part = CostBreakdown(
                rent=shape.gpus * float(c.pool_price[pool]) * n,
                energy=it * float(model.energy_per_it_kwh[s]),
                carbon_cost=it * float(model.carbon_cost_per_it_kwh[s]),
                egress=egress_total * n / total_replicas,
                carbon_kg=it * float(model.carbon_kg_per_it_kwh[s]),
                it_kw=it,
                facility_kw=it * float(c.pue[s]),
            )
            acc = acc + part
            per_s[s] = per_s.get(s, CostBreakdown()) + part
        per_w[name] = acc
    return per_w, per_s
