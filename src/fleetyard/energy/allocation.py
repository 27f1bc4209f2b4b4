"""Showback: who spent what over a period, from the plan (its rates every hour) or from what ran.

    usage = plan_usage(fleet, plan, start, end)          # or UsageTable.from_records(records)
    allocation = allocate(fleet, usage, "team")          # spec.allocation.Allocation

Each usage record is priced at its hour (energy/pricing.py: rent + facility kWh x price(t) +
carbon price x kg + egress, the planner's formula with the trace's values), then the records
are summed by key: `team` (the workload label `team`; none: "(no team)"), `label:KEY` (any
workload label; none: "(no KEY)"), `site` or `workload`. Vectorized: a million records
(30 days x 100 sites) take well under the 2 s target (benchmarks/cost_bench.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np

from fleetyard.energy.pricing import Priced, price_usage
from fleetyard.energy.timeline import Extend
from fleetyard.energy.usage import Usage, UsageTable, plan_usage
from fleetyard.spec.allocation import GROUP_BYS, Allocation, AllocationRow, Amounts, Period
from fleetyard.spec.fleet import Fleet

__all__ = [
    "GROUP_BYS",
    "Allocation",
    "BadGroupBy",
    "Usage",
    "UsageTable",
    "allocate",
    "allocate_priced",
    "check_by",
    "parse_period",
    "plan_usage",
]

NO_TEAM = "(no team)"
METRICS = ("gpu_hours", "replica_hours", "it_kwh", "kwh", "carbon_kg", "gpu_rent", "energy_cost",
           "carbon_cost", "egress_cost", "egress_gb")
_PERIOD = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNIT_H = {"h": 1, "d": 24, "w": 168}
MAX_PERIOD_H = 24 * 366 * 2


class BadGroupBy(ValueError):
    """`by` is none of team, label:KEY, site, workload."""


def check_by(by: str) -> str | None:
    """Why `by` is not a valid grouping, or None."""
    if by in ("team", "site", "workload"):
        return None
    if by.startswith("label:") and by[len("label:"):].strip():
        return None
    return f"expected one of {', '.join(GROUP_BYS)}, got '{by}'"


def parse_period(text: str) -> timedelta | str:
    """`30d`, `72h`, `2w` as a timedelta, or why it is not one (whole hours, 1 h to 2 years)."""
    m = _PERIOD.match(text)
    if m is None:
        return f"expected a period such as 30d, 72h or 2w, got '{text}'"
    hours = int(m.group(1)) * _UNIT_H[m.group(2)]
    if not 1 <= hours <= MAX_PERIOD_H:
        return f"expected a period from 1h to {MAX_PERIOD_H // 24}d, got '{text}'"
    return timedelta(hours=hours)


def _keys(fleet: Fleet, usage: UsageTable, by: str) -> tuple[list[str], np.ndarray]:
    """The key names and each record's key index."""
    if by == "site":
        return usage.sites, usage.site
    if by == "workload":
        return usage.workloads, usage.workload
    label = "team" if by == "team" else by[len("label:"):].strip()
    missing = NO_TEAM if by == "team" else f"(no {label})"
    names: list[str] = []
    index: dict[str, int] = {}
    of_workload = []
    for name in usage.workloads:
        w = fleet.workloads.get(name)
        value = w.labels.get(label, missing) if w is not None else missing
        of_workload.append(index.setdefault(value, len(index)))
        if len(index) > len(names):
            names.append(value)
    return names, np.asarray(of_workload, dtype=np.int64)[usage.workload]


def allocate_priced(fleet: Fleet, priced: Priced, by: str) -> Allocation:
    """Sum priced records by key (see `allocate`)."""
    why = check_by(by)
    if why is not None:
        raise BadGroupBy(why)
    usage = priced.usage
    names, key = _keys(fleet, usage, by)
    n = len(names)
    columns = {"gpu_hours": usage.gpu_hours, "replica_hours": usage.replica_hours}
    sums = {m: np.bincount(key, weights=columns[m] if m in columns else getattr(priced, m), minlength=n)
            for m in METRICS}
    counts = np.bincount(key, minlength=n)
    rows: list[AllocationRow] = []
    for i, name in enumerate(names):
        if counts[i] == 0:
            continue
        values = {m: float(sums[m][i]) for m in METRICS}
        cost = values["gpu_rent"] + values["energy_cost"] + values["carbon_cost"] + values["egress_cost"]
        rows.append(AllocationRow(key=name, cost=cost, **values))
    rows.sort(key=lambda r: (-r.cost, r.key))
    totals = {m: sum((getattr(r, m) for r in rows), 0.0) for m in (*METRICS, "cost")}
    total_cost = totals["cost"]
    rows = [r.model_copy(update={"share": r.cost / total_cost if total_cost else 0.0}) for r in rows]
    return Allocation(by=by, period=Period(start=usage.start, end=usage.end), rows=rows,
                      totals=Amounts(**totals), source="plan" if usage.source == "plan" else "recorded",
                      notes=list(priced.notes))


def allocate(fleet: Fleet, usage: UsageTable, by: str, *, extend: Extend = "none") -> Allocation:
    """Price `usage` hour by hour and sum it by `by` (team | label:KEY | site | workload).

    Raises `BadGroupBy` for another `by`, `energy.timeline.TraceGap` when a used site's trace
    does not cover the period (unless `extend="repeat-daily"`). The Allocation's `source` is
    the table's: "plan" (plan_usage) or "recorded" (UsageTable.from_records)."""
    why = check_by(by)
    if why is not None:
        raise BadGroupBy(why)
    return allocate_priced(fleet, price_usage(fleet, usage, extend), by)
