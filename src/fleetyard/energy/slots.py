"""The slot grid of a schedule and the capacity the always-on plan leaves in each slot.

A schedule covers [start, start + horizon) in equal slots of `slot_h` hours. Deferrable
jobs run on what the always-on plan leaves free, per (site, SKU) pool and per site:

    free GPUs      = pool count        - the plan's gpus_used of that SKU at that site
    free IT kW     = it_capacity_kw    - the plan's it_kw
    free cooling   = cooling capacity  - the plan's it_kw      (IT load becomes heat)

Power and cooling both bound the same quantity (the IT kW of the jobs running at the
site), so a slot's site limit is the smaller of the two headrooms. The plan does not
change within the horizon, so the headroom is the same in every slot; `Usage` tracks
what the deferrable jobs take, slot by slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from fleetyard.placement.context import Compiled
from fleetyard.spec.plan import Plan
from fleetyard.spec.trace import format_time

__all__ = ["Headroom", "SlotGrid", "Usage", "headroom_of"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
EPS = 1e-9


@dataclass(frozen=True)
class SlotGrid:
    """`n` slots of `slot_h` hours from `start` (UTC)."""

    start: datetime
    slot_h: float
    n: int

    @classmethod
    def of(cls, start: datetime, horizon_h: float, slot_h: float) -> SlotGrid:
        if slot_h <= 0:
            raise ValueError(f"the slot must be longer than 0 h, got {slot_h:g} h")
        if horizon_h <= 0:
            raise ValueError(f"the horizon must be longer than 0 h, got {horizon_h:g} h")
        n = horizon_h / slot_h
        if abs(n - round(n)) > 1e-6:
            raise ValueError(f"the horizon {horizon_h:g} h is not a whole number of {slot_h:g} h slots")
        return cls(start, float(slot_h), round(n))

    @property
    def end(self) -> datetime:
        return self.at(self.n)

    @property
    def horizon_h(self) -> float:
        return self.n * self.slot_h

    def at(self, k: int) -> datetime:
        """The start of slot k (k == n: the end of the horizon)."""
        return self.start + timedelta(hours=self.slot_h * k)

    def hours(self) -> list[float]:
        return [self.slot_h] * self.n

    def first_slot_at_or_after(self, t: datetime) -> int:
        """The first slot that starts at or after `t` (a job never starts before `earliest`)."""
        return math.ceil((t - self.start).total_seconds() / 3600.0 / self.slot_h - EPS)

    def last_slot_end_at_or_before(self, t: datetime) -> int:
        """The number of slots that end at or before `t` (a job never ends after `deadline`)."""
        return math.floor((t - self.start).total_seconds() / 3600.0 / self.slot_h + EPS)

    def describe(self) -> str:
        return f"{format_time(self.start)} to {format_time(self.end)}"


@dataclass(frozen=True)
class Headroom:
    """What the always-on plan leaves: GPUs per pool, IT kW per site (power and cooling)."""

    gpus: IntArray  # per pool
    kw: FloatArray  # per site: min(power headroom, cooling headroom)
    power_kw: FloatArray  # per site: it_capacity_kw - plan it_kw
    cooling_kw: FloatArray  # per site: cooling capacity - plan it_kw


def headroom_of(compiled: Compiled, plan: Plan) -> Headroom:
    """The capacity left by `plan` on the compiled (whole) fleet."""
    used = np.zeros(compiled.n_pools, dtype=np.int64)
    it_kw = np.zeros(compiled.n_sites)
    pool_of = {(int(compiled.pool_site[p]), compiled.pool_sku[p]): p for p in range(compiled.n_pools)}
    for usage in plan.sites:
        s = compiled.site_index.get(usage.site)
        if s is None:
            continue
        it_kw[s] += usage.it_kw
        for sku, n in usage.gpus_used.items():
            p = pool_of.get((s, sku))
            if p is not None:
                used[p] += n
    gpus = np.maximum(compiled.pool_count - used, 0)
    power = np.maximum(compiled.it_capacity_kw - it_kw, 0.0)
    cooling = np.maximum(compiled.cooling_kw - it_kw, 0.0)
    return Headroom(gpus, np.minimum(power, cooling), power, cooling)


class Usage:
    """GPUs per (pool, slot) and IT kW per (site, slot) taken by scheduled jobs."""

    def __init__(self, headroom: Headroom, n_slots: int, pool_site: IntArray) -> None:
        self.headroom = headroom
        self.pool_site = pool_site
        self.gpus = np.zeros((len(headroom.gpus), n_slots), dtype=np.int64)
        self.kw = np.zeros((len(headroom.kw), n_slots))

    def free_gpus(self, pool: int) -> IntArray:
        out: IntArray = self.headroom.gpus[pool] - self.gpus[pool]
        return out

    def free_kw(self, site: int) -> FloatArray:
        out: FloatArray = self.headroom.kw[site] - self.kw[site]
        return out

    def ok_slots(self, pools: IntArray, gpus: IntArray, kw: FloatArray) -> npt.NDArray[np.bool_]:
        """[option, slot]: True where the option's GPUs and kW fit what is left."""
        sites = self.pool_site[pools]
        g_ok = (self.headroom.gpus[pools, None] - self.gpus[pools]) >= gpus[:, None]
        k_ok = (self.headroom.kw[sites, None] - self.kw[sites]) >= kw[:, None] - EPS
        out: npt.NDArray[np.bool_] = g_ok & k_ok
        return out

    def fits(self, pool: int, gpus: int, kw: float, slots: IntArray) -> bool:
        s = int(self.pool_site[pool])
        return bool(np.all(self.free_gpus(pool)[slots] >= gpus)
                    and np.all(self.free_kw(s)[slots] >= kw - EPS))

    def take(self, pool: int, gpus: int, kw: float, slots: IntArray) -> None:
        self.gpus[pool, slots] += gpus
        self.kw[int(self.pool_site[pool]), slots] += kw
