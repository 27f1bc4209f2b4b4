"""The schedule of deferrable work (issue 11): where and when each job runs, in time slots.

`fleetyard schedule DIR --format json` prints a `Schedule`; the server stores one per plan
revision and holds each deferred job back until its slot. The required fields are the
contract (issue 11):

    {"jobs": [{"workload", "site", "gpu_sku", "replicas", "slots": [{"start", "end"}],
               "kwh", "carbon_kg", "cost"}],
     "totals": {...}, "baseline": {...}}

Times are ISO 8601 UTC text (`2020-06-01T00:00:00Z`), so the document stores as JSON.
Everything else is an extension that may grow.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Schedule", "ScheduleBound", "ScheduleTotals", "ScheduledJob", "Slot", "Unscheduled"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Slot(_Out):
    start: str  # ISO 8601 UTC
    end: str


class ScheduledJob(_Out):
    workload: str
    site: str
    gpu_sku: str
    replicas: int
    slots: list[Slot]  # merged: touching slots are one interval
    kwh: float  # facility energy: IT power x PUE x hours
    carbon_kg: float
    cost: float  # rent + energy + carbon price x emissions + egress, over the job
    run_hours: float = 0.0  # hours running, checkpoint overhead included
    resumes: int = 0  # interruptible jobs: times it resumes after a pause


class Unscheduled(_Out):
    workload: str
    reasons: list[str]


class ScheduleTotals(_Out):
    jobs: int
    kwh: float
    carbon_kg: float
    cost: float
    gpu_rent: float = 0.0
    energy_cost: float = 0.0
    carbon_cost: float = 0.0
    egress_cost: float = 0.0


class Baseline(_Out):
    """Run now: each job starts at its `earliest` at the cheapest site that can hold it."""

    jobs: list[ScheduledJob]
    totals: ScheduleTotals
    unscheduled: list[Unscheduled] = Field(default_factory=list)


class Savings(_Out):
    carbon_kg: float
    carbon_pct: float
    cost: float
    cost_pct: float


class ScheduleBound(_Out):
    """What the solver proves: `value` of the objective reached, `bound` a proven lower
    bound on any schedule of the slot model, `gap` = (value - bound) / value."""

    objective: str  # cost | carbon
    value: float
    bound: float
    gap: float
    status: str = ""  # optimal | node-limit | time-limit (safety net) | heuristic
    method: str = ""
    # Extension (energy/schedule.py): the restricted MILP behind `value`
    restricted_bound: float = 0.0  # HiGHS's dual bound on the restricted (candidate) model
    candidates: int = 0  # candidate patterns in the restricted model
    capacity_rows: int = 0  # (pool, slot) and (site, slot) rows that can bind
    seconds: float = 0.0  # wall-clock of the whole schedule (measured, never a stop rule)
    baseline_seconds: float = 0.0  # of the run-now baseline alone


class Schedule(_Out):
    jobs: list[ScheduledJob]
    totals: ScheduleTotals
    baseline: Baseline
    unscheduled: list[Unscheduled] = Field(default_factory=list)
    savings: Savings | None = None
    bound: ScheduleBound | None = None
    objective: str = "cost"  # cost | carbon
    start: str = ""
    end: str = ""
    slot_h: float = 1.0
    notes: list[str] = Field(default_factory=list)
