"""Price every usage record at its hour: the planner's cost formula, one value per record.

    IT kWh        = the site's metered energy_kwh where given,
                    else replica power (Fleet.replica_power_kw) x replica_hours
    facility kWh  = IT kWh x PUE(t)
    GPU rent      = price_per_gpu_hour of the (site, SKU) pool x gpu_hours
    energy        = IT kWh x PUE(t) x price(t)              } placement.costmodel.per_it_kwh,
    carbon kg     = IT kWh x PUE(t) x intensity(t) / 1000   } the planner's own formula
    carbon cost   = carbon kg / 1000 x carbon_price_per_tonne
    egress        = per workload and hour, for each data source d:
                    gb_per_hour(d) x egress price of d's site x (replica-hours away from d /
                    all its replica-hours that hour), shared among its records by replica-hours

PUE, price and intensity at hour t come from the site's trace (its mean over the hour), else
the Site's constants (energy/timeline.site_series). For a whole hour of a plan's replicas
this is exactly `plan_costs`; an hour in which a workload ran at all reads its data for the
whole hour (the spec's gb_per_hour has no finer grain).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetyard.energy.timeline import Extend, site_series
from fleetyard.energy.usage import UsageTable
from fleetyard.placement.costmodel import per_it_kwh
from fleetyard.spec.catalog import SERVER_POWER_FACTOR
from fleetyard.spec.fleet import Fleet

__all__ = ["Priced", "price_usage"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Priced:
    """Per record of `usage`: energy, carbon and each cost component over its hour."""

    usage: UsageTable
    it_kwh: FloatArray
    kwh: FloatArray
    carbon_kg: FloatArray
    gpu_rent: FloatArray
    energy_cost: FloatArray
    carbon_cost: FloatArray
    egress_cost: FloatArray
    egress_gb: FloatArray
    traced_sites: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)

    @property
    def cost(self) -> FloatArray:
        out: FloatArray = self.gpu_rent + self.energy_cost + self.carbon_cost + self.egress_cost
        return out


def _site_rates(fleet: Fleet, usage: UsageTable, extend: Extend) -> tuple[FloatArray, FloatArray, FloatArray]:
    """PUE, $/kWh and gCO2/kWh per (usage site, hour of the period); zeros for unknown sites."""
    n_sites, n_hours = len(usage.sites), usage.hours
    pue = np.ones((n_sites, n_hours))
    price = np.zeros((n_sites, n_hours))
    carbon = np.zeros((n_sites, n_hours))
    slots = [1.0] * n_hours
    for i, name in enumerate(usage.sites):
        if name not in fleet.sites or n_hours == 0:
            continue
        s = site_series(fleet, name, usage.start, slots, extend)
        pue[i], price[i], carbon[i] = s.pue, s.price_per_kwh, s.carbon_g_per_kwh
    return pue, price, carbon


def _pools(fleet: Fleet, usage: UsageTable) -> tuple[FloatArray, FloatArray, list[str]]:
    """GPU price and TDP (W) per (usage site, usage SKU); NaN where the fleet has no such pool."""
    price = np.full((len(usage.sites), len(usage.skus)), np.nan)
    tdp = np.full_like(price, np.nan)
    sku_index = {k: j for j, k in enumerate(usage.skus)}
    missing: list[str] = []
    for i, name in enumerate(usage.sites):
        site = fleet.sites.get(name)
        if site is None:
            missing.append(f"site {name} is not in the fleet: its usage is counted but not priced")
            continue
        for pool in site.spec.gpus:
            j = sku_index.get(pool.sku)
            if j is not None:
                price[i, j] = pool.price_per_gpu_hour
                tdp[i, j] = fleet.gpu_model(pool).tdp_w
    return price, tdp, missing


def _workload_shapes(fleet: Fleet, usage: UsageTable) -> tuple[FloatArray, FloatArray]:
    """Per usage workload: GPUs per replica (NaN: unknown workload) and its replica.power_kw (NaN: none)."""
    gpus = np.full(len(usage.workloads), np.nan)
    power = np.full(len(usage.workloads), np.nan)
    for i, name in enumerate(usage.workloads):
        w = fleet.workloads.get(name)
        if w is not None:
            gpus[i] = w.spec.replica.gpus
            if w.spec.replica.power_kw is not None:
                power[i] = w.spec.replica.power_kw
    return gpus, power


def _it_kwh(usage: UsageTable, tdp: FloatArray, gpus: FloatArray, power: FloatArray) -> FloatArray:
    w, s, k = usage.workload, usage.site, usage.sku
    pool_tdp = np.nan_to_num(tdp[s, k]) if tdp.size else np.zeros(len(usage))
    per_gpu = pool_tdp * SERVER_POWER_FACTOR / 1000.0
    replica_kw = np.where(np.isnan(power[w]), gpus[w] * pool_tdp * SERVER_POWER_FACTOR / 1000.0, power[w])
    # A workload the fleet no longer has: its GPU-hours at the pool's power per GPU.
    modelled = np.where(np.isnan(gpus[w]), usage.gpu_hours * per_gpu, replica_kw * usage.replica_hours)
    out: FloatArray = np.where(np.isnan(usage.energy_kwh), modelled, usage.energy_kwh)
    return out


def _egress(fleet: Fleet, usage: UsageTable) -> tuple[FloatArray, FloatArray]:
    """Egress $ and GB of each record (see the module docstring)."""
    n = len(usage)
    n_sites, n_w = len(usage.sites), len(usage.workloads)
    site_index = {name: i for i, name in enumerate(usage.sites)}
    # per workload: total $ and GB per hour of its data sources; per (workload, usage site): the share
    # that site saves by holding the data
    total_usd = np.zeros(n_w)
    total_gb = np.zeros(n_w)
    local_usd = np.zeros((n_w, n_sites))
    local_gb = np.zeros((n_w, n_sites))
    any_data = False
    for i, name in enumerate(usage.workloads):
        w = fleet.workloads.get(name)
        if w is None:
            continue
        for source in w.spec.data:
            site = fleet.sites.get(source.site)
            if site is None:
                continue
            usd = source.gb_per_hour * float(site.spec.egress_price_per_gb)
            any_data = True
            total_usd[i] += usd
            total_gb[i] += source.gb_per_hour
            j = site_index.get(source.site)
            if j is not None:
                local_usd[i, j] += usd
                local_gb[i, j] += source.gb_per_hour
    if not any_data or n == 0:
        return np.zeros(n), np.zeros(n)
    wi, si = usage.workload, usage.site
    group = wi * usage.hours + usage.hour_index  # one group per (workload, hour)
    size = n_w * usage.hours
    rh = usage.replica_hours
    all_rh = np.bincount(group, weights=rh, minlength=size)[group]
    share = np.divide(rh, all_rh, out=np.zeros(n), where=all_rh > 0)

    def spread(total: FloatArray, local: FloatArray) -> FloatArray:
        at_data = np.bincount(group, weights=rh * local[wi, si], minlength=size)[group]
        away = total[wi] - np.divide(at_data, all_rh, out=np.zeros(n), where=all_rh > 0)
        out: FloatArray = share * away
        return out

    return spread(total_usd, local_usd), spread(total_gb, local_gb)


def price_usage(fleet: Fleet, usage: UsageTable, extend: Extend = "none") -> Priced:
    """Every record of `usage` priced at its hour; a trace that does not cover the period
    raises `TraceGap` (unless `extend="repeat-daily"`)."""
    pue_t, price_t, carbon_t = _site_rates(fleet, usage, extend)
    gpu_price, tdp, notes = _pools(fleet, usage)
    gpus, power = _workload_shapes(fleet, usage)
    s, k, h = usage.site, usage.sku, usage.hour_index
    it = _it_kwh(usage, tdp, gpus, power)
    carbon_price = float(fleet.objective.spec.carbon_price_per_tonne)
    e_rate, kg_rate, c_rate = per_it_kwh(pue_t, price_t, carbon_t, carbon_price)
    rent_rate = np.nan_to_num(gpu_price[s, k]) if gpu_price.size else np.zeros(len(usage))
    unpooled = np.isnan(gpu_price[s, k]) if gpu_price.size else np.zeros(len(usage), dtype=bool)
    for i, j in sorted({(int(a), int(b)) for a, b in zip(s[unpooled], k[unpooled], strict=True)}):
        if usage.sites[i] in fleet.sites:
            notes.append(f"site {usage.sites[i]} has no {usage.skus[j]} GPUs: their rent is not priced")
    unknown_w = [name for name, g in zip(usage.workloads, gpus, strict=True) if np.isnan(g)]
    if unknown_w:
        notes.append(f"workload(s) not in the fleet, power from GPU-hours x TDP x {SERVER_POWER_FACTOR}, "
                     f"no egress: {', '.join(unknown_w)}")
    egress, egress_gb = _egress(fleet, usage)
    return Priced(
        usage=usage, it_kwh=it, kwh=it * pue_t[s, h], carbon_kg=it * kg_rate[s, h],
        gpu_rent=rent_rate * usage.gpu_hours, energy_cost=it * e_rate[s, h], carbon_cost=it * c_rate[s, h],
        egress_cost=egress, egress_gb=egress_gb,
        traced_sites=frozenset(n for n in usage.sites if n in fleet.traces), notes=notes,
    )
