"""Each deferrable job's options: where it may run, and what a slot there costs and emits.

An option is one (site, SKU) pool the placement filters allow for the job (residency and
other policies, burst rules, SKU allow-list, GPU memory, interconnect: the same
`Runner` as `plan`, against the fleet's total capacity) whose free capacity after the
always-on plan holds the whole job. A job runs all its `replicas.min` replicas on one
pool for its whole run: a checkpoint is not moved between sites (the data and the
checkpoint live where the job ran; moving them is a transfer this model does not price).

Per option and slot the money is the one formula of `placement/costmodel.py`
(rent + IT kW x PUE x (price + carbon price x intensity) + egress), with the site's PUE,
price and intensity of that slot (`energy.timeline.site_series`). A job holds whole
slots: it is charged, and it takes capacity, for every slot it runs in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetyard.energy.slots import Headroom, SlotGrid
from fleetyard.energy.timeline import Extend, site_series
from fleetyard.placement.context import Compiled
from fleetyard.placement.costmodel import per_it_kwh
from fleetyard.placement.framework import Context
from fleetyard.placement.runner import Runner
from fleetyard.spec.models import Workload
from fleetyard.spec.trace import format_time

__all__ = ["CARBON_COST_WEIGHT", "Job", "Prices", "build_jobs", "slot_prices"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CARBON_COST_WEIGHT = 1e-6
"""The carbon objective minimises kg CO2 + this x $: emissions first, and among schedules
that emit the same, the cheaper (a dollar weighs a milligram)."""


@dataclass(frozen=True)
class Prices:
    """Per site and slot, per IT kWh: energy $, carbon $ (at the Objective's price), kg CO2; PUE."""

    energy: FloatArray  # [site, slot]
    carbon_cost: FloatArray
    kg: FloatArray
    pue: FloatArray
    carbon_price_per_tonne: float


def slot_prices(compiled: Compiled, grid: SlotGrid, extend: Extend) -> Prices:
    """Every site's per-slot prices; raises `TraceGap` where a trace does not cover the grid."""
    fleet = compiled.fleet
    cp = float(fleet.objective.spec.carbon_price_per_tonne)
    n, t = compiled.n_sites, grid.n
    energy, cost, kg, pue = (np.zeros((n, t)) for _ in range(4))
    hours = grid.hours()
    for s, name in enumerate(compiled.site_names):
        series = site_series(fleet, name, grid.start, hours, extend)
        energy[s], kg[s], cost[s] = per_it_kwh(series.pue, series.price_per_kwh, series.carbon_g_per_kwh, cp)
        pue[s] = series.pue
    return Prices(energy, cost, kg, pue, cp)


@dataclass
class Job:
    """One deferrable job: its window in slots and its options (arrays over options)."""

    w: Workload
    order: int  # input order
    lo: int  # first slot it may run in
    hi: int  # slots it must have finished by (exclusive)
    need: int  # slots of one continuous run: ceil(duration_h / slot_h)
    duration: float  # duration_h in slots (interruptible: runs >= duration + overhead x resumes)
    interruptible: bool
    overhead: float  # slots of running added per resume (interruptible)
    pools: IntArray
    sites: IntArray
    gpus: int  # GPUs the whole job takes on its pool
    kw: FloatArray  # IT kW of the whole job on each option
    fixed: FloatArray  # $ per slot on each option: GPU rent + egress
    rent: FloatArray  # $ per slot: GPU rent
    egress: FloatArray  # $ per slot: egress
    slot_h: float

    @property
    def name(self) -> str:
        return self.w.name

    @property
    def priority(self) -> int:
        return self.w.spec.priority

    @property
    def width(self) -> int:
        return self.hi - self.lo

    def cost(self, prices: Prices) -> FloatArray:
        """$ of each slot of the window on each option: [option, slot - lo]."""
        s = self.sites
        per = prices.energy[s, self.lo:self.hi] + prices.carbon_cost[s, self.lo:self.hi]
        out: FloatArray = self.fixed[:, None] + (self.kw * self.slot_h)[:, None] * per
        return out

    def kg(self, prices: Prices) -> FloatArray:
        out: FloatArray = (self.kw * self.slot_h)[:, None] * prices.kg[self.sites, self.lo:self.hi]
        return out

    def objective(self, prices: Prices, kind: str) -> FloatArray:
        """What the schedule minimises, per option and window slot."""
        if kind == "carbon":
            out: FloatArray = self.kg(prices) + CARBON_COST_WEIGHT * self.cost(prices)
            return out
        return self.cost(prices)


def _window(w: Workload, grid: SlotGrid) -> tuple[int, int, int, str | None]:
    """Slots [lo, hi) the job may use, slots it needs, and a reason when it cannot fit."""
    sched = w.spec.schedule
    assert sched is not None
    need = max(1, math.ceil(sched.duration_h / grid.slot_h - 1e-9))
    lo = max(0, grid.first_slot_at_or_after(sched.earliest))
    hi = min(grid.n, grid.last_slot_end_at_or_before(sched.deadline))
    window = f"window {format_time(sched.earliest)} to {format_time(sched.deadline)}"
    if sched.deadline <= grid.start:
        return lo, hi, need, f"{window} ends before the horizon ({grid.describe()}) starts"
    if sched.earliest >= grid.end:
        return lo, hi, need, f"{window} starts after the horizon ({grid.describe()}) ends"
    if hi - lo < need:
        clipped = sched.earliest < grid.start or sched.deadline > grid.end
        where = f"inside the horizon {grid.describe()}" if clipped else f"in whole {grid.slot_h:g} h slots"
        return lo, hi, need, (f"{window} leaves {max(0, hi - lo) * grid.slot_h:g} h {where}, "
                              f"less than the {need * grid.slot_h:g} h it runs")
    return lo, hi, need, None


def build_jobs(ctx: Context, runner: Runner, headroom: Headroom, grid: SlotGrid,
               workloads: list[Workload]) -> tuple[list[Job], dict[str, list[str]]]:
    """The schedulable jobs, and the reasons of each job that fits nowhere."""
    c = ctx.compiled
    jobs: list[Job] = []
    reasons: dict[str, list[str]] = {}
    for order, w in enumerate(workloads):
        sched = w.spec.schedule
        assert sched is not None
        lo, hi, need, why = _window(w, grid)
        if why is not None:
            reasons[w.name] = [why]
            continue
        n = max(1, w.spec.replicas.min)
        gpus = n * w.spec.replica.gpus
        feasible = runner.feasible(ctx, w)
        feasible &= c.pool_count >= gpus
        pools = np.flatnonzero(feasible).astype(np.int64)
        if not len(pools):
            reasons[w.name] = [runner.evaluate(ctx, w).summary()]
            continue
        costs = ctx.replica_costs(w)
        kw = n * costs.power_kw[pools]
        sites = c.pool_site[pools]
        fits = (headroom.gpus[pools] >= gpus) & (headroom.kw[sites] >= kw - 1e-9)
        if not fits.any():
            reasons[w.name] = [_no_headroom(c, headroom, pools, gpus, kw)]
            continue
        pools, sites, kw = pools[fits], sites[fits], kw[fits]
        rent = n * costs.rent[pools] * grid.slot_h
        egress = n * costs.egress[pools] * grid.slot_h  # linearized per replica: exact for the whole job
        jobs.append(Job(
            w=w, order=order, lo=lo, hi=hi, need=need, duration=sched.duration_h / grid.slot_h,
            interruptible=sched.interruptible,
            overhead=sched.checkpoint_overhead_h / grid.slot_h if sched.interruptible else 0.0,
            pools=pools, sites=sites, gpus=gpus, kw=kw, fixed=rent + egress, rent=rent, egress=egress,
            slot_h=grid.slot_h,
        ))
    return jobs, reasons


def _no_headroom(c: Compiled, headroom: Headroom, pools: IntArray, gpus: int, kw: FloatArray) -> str:
    parts = []
    for p, k in list(zip(pools.tolist(), kw.tolist(), strict=True))[:4]:
        s = int(c.pool_site[p])
        short = []
        if headroom.gpus[p] < gpus:
            short.append(f"{headroom.gpus[p]} free {c.pool_sku[p]} < {gpus} GPUs")
        if headroom.power_kw[s] < k - 1e-9:
            short.append(f"{headroom.power_kw[s]:.1f} kW power free < {k:.1f} kW")
        if headroom.cooling_kw[s] < k - 1e-9:
            short.append(f"{headroom.cooling_kw[s]:.1f} kW cooling free < {k:.1f} kW")
        parts.append(f"{c.site_names[s]} {c.pool_sku[p]}: " + ", ".join(short))
    more = f" (and {len(pools) - 4} more pools)" if len(pools) > 4 else ""
    return "no allowed pool has room left by the always-on plan: " + "; ".join(parts) + more
