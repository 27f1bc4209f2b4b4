"""The showback result (issue 11): who spent what over a period, grouped by a key.

`Allocation` is the contract of `fleetyard cost --format json` and of the server's
`GET /api/v1/cost`; the engine that fills it is `energy/allocation.py`, the formulas are in
docs/cost.md. Amounts are not rounded, and `totals` is the sum of `rows` in row order, so
the rows add up to the totals exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GROUP_BYS", "Allocation", "AllocationRow", "Amounts", "Period"]

GROUP_BYS = ("team", "label:KEY", "site", "workload")
"""What `by` may be: the workload label `team`, any workload label, the site, the workload."""


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Out):
    """The hours allocated: [start, end), whole UTC hours."""

    start: datetime
    end: datetime


class Amounts(_Out):
    """Usage and money over the period. `kwh` is facility energy (IT x PUE), `it_kwh` the IT share."""

    gpu_hours: float = 0.0
    replica_hours: float = 0.0
    it_kwh: float = 0.0
    kwh: float = 0.0
    carbon_kg: float = 0.0
    gpu_rent: float = 0.0
    energy_cost: float = 0.0
    carbon_cost: float = 0.0
    egress_cost: float = 0.0
    egress_gb: float = 0.0
    cost: float = 0.0  # gpu_rent + energy_cost + carbon_cost + egress_cost


class AllocationRow(Amounts):
    key: str
    share: float = 0.0  # of the total cost, 0..1 (0 when the total is 0)


class Allocation(_Out):
    by: str  # team | label:KEY | site | workload
    period: Period
    rows: list[AllocationRow]  # most expensive first, then by key
    totals: Amounts
    source: Literal["plan", "recorded"]  # the plan's assignments every hour, or what the agents reported
    currency: str = "USD"
    notes: list[str] = Field(default_factory=list)  # e.g. usage on a site the fleet no longer has
