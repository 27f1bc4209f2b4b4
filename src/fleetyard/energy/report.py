"""Chosen patterns to the `Schedule` contract: per job site, SKU, slots, kWh, kg and $."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fleetyard.energy.jobs import Job, Prices
from fleetyard.energy.patterns import Candidate, runs_of
from fleetyard.energy.slots import SlotGrid, Usage
from fleetyard.placement.context import Compiled
from fleetyard.spec.timeplan import Savings, ScheduledJob, ScheduleTotals, Slot
from fleetyard.spec.trace import format_time

__all__ = ["Figures", "figures", "penalized", "savings", "scheduled_job", "totals", "within_capacity"]


@dataclass(frozen=True)
class Figures:
    rent: float
    energy: float
    carbon_cost: float
    egress: float
    kg: float
    kwh: float

    @property
    def cost(self) -> float:
        return self.rent + self.energy + self.carbon_cost + self.egress


def figures(job: Job, prices: Prices, cand: Candidate) -> Figures:
    o, slots = cand.option, cand.slots
    s = int(job.sites[o])
    it_kwh = float(job.kw[o]) * job.slot_h
    n = len(slots)
    return Figures(
        rent=float(job.rent[o]) * n,
        energy=it_kwh * float(prices.energy[s, slots].sum()),
        carbon_cost=it_kwh * float(prices.carbon_cost[s, slots].sum()),
        egress=float(job.egress[o]) * n,
        kg=it_kwh * float(prices.kg[s, slots].sum()),
        kwh=it_kwh * float(prices.pue[s, slots].sum()),
    )


def _intervals(grid: SlotGrid, slots: np.ndarray) -> list[Slot]:
    out: list[Slot] = []
    if not len(slots):
        return out
    breaks = np.flatnonzero(np.diff(slots) > 1)
    firsts = np.concatenate([[0], breaks + 1])
    lasts = np.concatenate([breaks, [len(slots) - 1]])
    for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True):
        out.append(Slot(start=format_time(grid.at(int(slots[a]))), end=format_time(grid.at(int(slots[b]) + 1))))
    return out


def scheduled_job(c: Compiled, grid: SlotGrid, job: Job, prices: Prices, cand: Candidate) -> ScheduledJob:
    f = figures(job, prices, cand)
    p = int(job.pools[cand.option])
    return ScheduledJob(
        workload=job.name, site=c.site_names[int(c.pool_site[p])], gpu_sku=c.pool_sku[p],
        replicas=max(1, job.w.spec.replicas.min), slots=_intervals(grid, cand.slots),
        kwh=round(f.kwh, 4), carbon_kg=round(f.kg, 4), cost=round(f.cost, 4),
        run_hours=len(cand.slots) * grid.slot_h, resumes=runs_of(cand.slots) - 1,
    )


def totals(jobs: Sequence[Job], prices: Prices, chosen: Mapping[int, Candidate]) -> ScheduleTotals:
    fs = [figures(jobs[i], prices, cand) for i, cand in sorted(chosen.items())]
    return ScheduleTotals(
        jobs=len(fs), kwh=round(sum(f.kwh for f in fs), 4), carbon_kg=round(sum(f.kg for f in fs), 4),
        cost=round(sum(f.cost for f in fs), 4), gpu_rent=round(sum(f.rent for f in fs), 4),
        energy_cost=round(sum(f.energy for f in fs), 4), carbon_cost=round(sum(f.carbon_cost for f in fs), 4),
        egress_cost=round(sum(f.egress for f in fs), 4),
    )


def savings(schedule: ScheduleTotals, baseline: ScheduleTotals) -> Savings:
    def pct(saved: float, base: float) -> float:
        return round(100.0 * saved / base, 3) if base > 0 else 0.0

    kg = baseline.carbon_kg - schedule.carbon_kg
    usd = baseline.cost - schedule.cost
    return Savings(carbon_kg=round(kg, 4), carbon_pct=pct(kg, baseline.carbon_kg),
                   cost=round(usd, 4), cost_pct=pct(usd, baseline.cost))


def penalized(chosen: Mapping[int, Candidate], penalty: np.ndarray) -> float:
    """The MILP's objective of a schedule: candidate values plus the penalty of each job left out."""
    left = np.ones(len(penalty), dtype=bool)
    for i in chosen:
        left[i] = False
    return float(sum(c.value for c in chosen.values()) + penalty[left].sum())


def within_capacity(jobs: Sequence[Job], chosen: Mapping[int, Candidate], usage: Usage) -> bool:
    """True if every chosen pattern fits, together, in every slot (an independent check)."""
    for i, cand in chosen.items():
        job = jobs[i]
        if len(cand.slots) and (cand.slots.min() < job.lo or cand.slots.max() >= job.hi):
            return False
        usage.take(int(job.pools[cand.option]), job.gpus, float(job.kw[cand.option]), cand.slots)
    return bool((usage.gpus <= usage.headroom.gpus[:, None]).all()
                and (usage.kw <= usage.headroom.kw[:, None] + 1e-6).all())
