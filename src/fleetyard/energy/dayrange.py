"""A plan over a day: its assignments, fixed, priced at each hour of one UTC day.

The planner prices one moment (the constants, or `fleet_at(T)` for `plan --at T`); grids
are not constant, so `fleetyard plan` also reports what the same placement costs and emits
hour by hour over a day of the traces, as a range (`Plan.over_day`). Which day: the one
asked for (`--day`), else the UTC day holding `--at`, else the last whole UTC day every
trace covers (`default_day`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from fleetyard.energy.pricing import price_usage
from fleetyard.energy.timeline import Extend
from fleetyard.energy.usage import plan_usage
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import HourlyRange, OverDay, Plan

__all__ = ["common_coverage", "day_of", "default_day", "over_day"]

DAY = timedelta(days=1)


def day_of(t: datetime) -> datetime:
    """Midnight UTC of the day holding `t`."""
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def common_coverage(fleet: Fleet) -> tuple[datetime, datetime] | None:
    """[latest trace start, earliest trace end): what every trace covers; None without traces
    (or when they do not overlap)."""
    if not fleet.traces:
        return None
    start = max(t.start for t in fleet.traces.values())
    end = min(t.end for t in fleet.traces.values())
    return (start, end) if end > start else None


def default_day(fleet: Fleet) -> datetime | None:
    """The last whole UTC day every trace covers, or None."""
    cover = common_coverage(fleet)
    if cover is None:
        return None
    last = day_of(cover[1]) - DAY
    return last if last >= cover[0] else None


def _range(values: np.ndarray) -> HourlyRange:
    return HourlyRange(min=float(values.min()), mean=float(values.mean()), max=float(values.max()))


def over_day(fleet: Fleet, plan: Plan, day: datetime, extend: Extend = "none") -> OverDay:
    """The plan's assignments priced at each of the 24 hours from `day` (midnight UTC).
    Raises TraceGap when a used site's trace does not cover the day (unless extended)."""
    start = day_of(day)
    usage = plan_usage(fleet, plan, start, start + DAY)
    priced = price_usage(fleet, usage, extend)
    h = usage.hour_index
    cost = np.bincount(h, weights=priced.cost, minlength=24)
    carbon = np.bincount(h, weights=priced.carbon_kg, minlength=24)
    power = np.bincount(h, weights=priced.kwh, minlength=24)  # kWh in an hour = average kW
    return OverDay(start=start, end=start + DAY, cost_per_hour=_range(cost),
                   carbon_kg_per_hour=_range(carbon), power_kw=_range(power))
