"""The fleet compiled to arrays: one row per site, one per (site, SKU) pool.

Filters, scorers, the cost model and the solvers all read the same compiled view,
so a 1,000-site fleet is checked with vector operations instead of Python loops.
`Ledger` is the free capacity a placement sees: the whole fleet for static checks,
what is left for the greedy baseline and for explanations of a finished plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetyard.spec.catalog import SERVER_POWER_FACTOR
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.geo import estimated_rtt_ms
from fleetyard.spec.interconnect import PoolShape, pool_shape
from fleetyard.spec.models import Workload

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Ledger:
    """Free capacity: GPUs per pool, IT kW and cooling kW per site."""

    gpus: IntArray
    it_kw: FloatArray
    cooling_kw: FloatArray
    kind: str = "capacity"  # "capacity" (static totals) or "free" (what is left)

    def copy(self) -> Ledger:
        return Ledger(self.gpus.copy(), self.it_kw.copy(), self.cooling_kw.copy(), self.kind)


@dataclass
class Compiled:
    """Array view of a fleet. Site i's pools are `pool_site == i`."""

    fleet: Fleet
    site_names: list[str]
    site_index: dict[str, int]
    site_type: list[str]
    site_country: list[str]
    it_capacity_kw: FloatArray
    cooling_kw: FloatArray
    pue: FloatArray
    energy_price: FloatArray
    carbon_g_per_kwh: FloatArray
    egress_price: FloatArray
    region_names: list[str]
    region_index: dict[str, int]
    rtt: FloatArray  # [site, region] round-trip ms, measured where given
    pool_site: IntArray
    pool_sku: list[str]
    pool_count: IntArray
    pool_memory_gb: FloatArray
    pool_tdp_w: FloatArray
    pool_price: FloatArray
    site_pools: list[IntArray] = field(default_factory=list)
    # Fleet-wide figures derived once by the engines that need them (e.g. `burst.rules_of`).
    derived: dict[str, object] = field(default_factory=dict, repr=False, compare=False)
    # servers and fabric of each pool (the `fabric` filter); arrays for its vector mask
    pool_shapes: list[PoolShape] = field(default_factory=list)
    pool_gpus_per_server: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pool_link: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, dtype=str))
    pool_fabric: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, dtype=str))
    pool_fabric_gbps: FloatArray = field(default_factory=lambda: np.zeros(0))
    pool_domain_servers: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # 0: whole pool

    @property
    def n_sites(self) -> int:
        return len(self.site_names)

    @property
    def n_pools(self) -> int:
        return len(self.pool_sku)

    def full_ledger(self) -> Ledger:
        return Ledger(self.pool_count.copy(), self.it_capacity_kw.copy(), self.cooling_kw.copy())

    def pool_label(self, p: int) -> str:
        return f"{self.site_names[int(self.pool_site[p])]} {self.pool_sku[p]}"

    def replica_power_kw(self, w: Workload) -> FloatArray:
        """IT kW of one replica on each pool (the workload's figure or GPUs x TDP x 1.8)."""
        shape = w.spec.replica
        if shape.power_kw is not None:
            return np.full(self.n_pools, float(shape.power_kw))
        return shape.gpus * self.pool_tdp_w * SERVER_POWER_FACTOR / 1000.0

    def replica_power_at(self, w: Workload, pool: int) -> float:
        """`replica_power_kw` for one pool."""
        shape = w.spec.replica
        if shape.power_kw is not None:
            return float(shape.power_kw)
        return shape.gpus * float(self.pool_tdp_w[pool]) * SERVER_POWER_FACTOR / 1000.0

    def pools_of(self, site: str) -> IntArray:
        return self.site_pools[self.site_index[site]]


def compile_fleet(fleet: Fleet) -> Compiled:
    sites = list(fleet.sites.values())
    regions = list(fleet.regions.values())
    rtt = np.zeros((len(sites), len(regions)))
    for j, region in enumerate(regions):
        for i, site in enumerate(sites):
            measured = site.spec.latency_ms.get(region.name)
            rtt[i, j] = (
                float(measured)
                if measured is not None
                else round(estimated_rtt_ms(site.spec.location, region.spec.location), 1)
            )
    pool_site: list[int] = []
    pool_sku: list[str] = []
    count: list[int] = []
    memory: list[float] = []
    tdp: list[float] = []
    price: list[float] = []
    shapes: list[PoolShape] = []
    for i, site in enumerate(sites):
        for pool in site.spec.gpus:
            shapes.append(pool_shape(fleet, pool))
            model = fleet.gpu_model(pool)
            pool_site.append(i)
            pool_sku.append(pool.sku)
            count.append(pool.count)
            memory.append(model.memory_gb)
            tdp.append(model.tdp_w)
            price.append(pool.price_per_gpu_hour)
    ps = np.array(pool_site, dtype=np.int64)
    compiled = Compiled(
        fleet=fleet,
        site_names=[s.name for s in sites],
        site_index={s.name: i for i, s in enumerate(sites)},
        site_type=[s.spec.type for s in sites],
        site_country=[s.spec.country for s in sites],
        it_capacity_kw=np.array([s.spec.power.it_capacity_kw for s in sites], dtype=np.float64),
        cooling_kw=np.array([s.spec.cooling_capacity_kw for s in sites], dtype=np.float64),
        pue=np.array([s.spec.power.pue for s in sites], dtype=np.float64),
        energy_price=np.array([s.spec.energy.price_per_kwh for s in sites], dtype=np.float64),
        carbon_g_per_kwh=np.array([s.spec.energy.carbon_g_per_kwh for s in sites], dtype=np.float64),
        egress_price=np.array([s.spec.egress_price_per_gb for s in sites], dtype=np.float64),
        region_names=[r.name for r in regions],
        region_index={r.name: j for j, r in enumerate(regions)},
        rtt=rtt,
        pool_site=ps,
        pool_sku=pool_sku,
        pool_count=np.array(count, dtype=np.int64),
        pool_memory_gb=np.array(memory, dtype=np.float64),
        pool_tdp_w=np.array(tdp, dtype=np.float64),
        pool_price=np.array(price, dtype=np.float64),
    )
    compiled.site_pools = [np.flatnonzero(ps == i) for i in range(len(sites))]
    compiled.pool_shapes = shapes
    compiled.pool_gpus_per_server = np.array([p.gpus_per_server for p in shapes], dtype=np.int64)
    compiled.pool_link = np.array([p.link for p in shapes], dtype=str)
    compiled.pool_fabric = np.array([p.fabric for p in shapes], dtype=str)
    compiled.pool_fabric_gbps = np.array([p.gbps for p in shapes], dtype=np.float64)
    compiled.pool_domain_servers = np.array([p.domain_servers or 0 for p in shapes], dtype=np.int64)
    return compiled
