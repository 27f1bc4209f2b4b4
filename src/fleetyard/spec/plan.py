"""The plan: where each workload runs, how demand is routed, what could not be placed.

The required fields and their names are the contract of `fleetyard plan --format json`
(DESIGN.md); everything else is an extension that may grow.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Assignment(_Out):
    workload: str
    site: str
    gpu_sku: str
    replicas: int


class Route(_Out):
    workload: str
    region: str
    site: str
    rps: float
    latency_ms: float


class Unplaced(_Out):
    """Work that could not be placed, or demand that could not be served, and why."""

    workload: str
    replicas: int
    reasons: list[str]
    unserved: dict[str, float] = Field(default_factory=dict)  # requests/s by region


class SiteUsage(_Out):
    site: str
    gpus_used: dict[str, int]
    it_kw: float
    gpus_total: dict[str, int] = Field(default_factory=dict)
    it_capacity_kw: float = 0.0
    cooling_kw: float = 0.0
    cost_per_hour: float = 0.0
    carbon_kg_per_hour: float = 0.0


class Totals(_Out):
    cost_per_hour: float
    power_kw: float  # facility power: IT load x PUE
    carbon_kg_per_hour: float
    it_kw: float = 0.0
    gpu_rent_per_hour: float = 0.0
    energy_per_hour: float = 0.0
    carbon_cost_per_hour: float = 0.0
    egress_per_hour: float = 0.0
    gpus_used: int = 0
    demand_rps: float = 0.0
    served_rps: float = 0.0
    replicas_placed: int = 0
    replicas_unplaced: int = 0
    # Extension (issue 8): the burst preference premium the optimizer charged this plan
    # (rank of the site type in Objective.burst.prefer x premium per GPU-hour); not money,
    # never part of cost_per_hour. 0 without a preference.
    preference_premium_per_hour: float = 0.0


class StageBound(_Out):
    """One stage of the staged objective (docs/planning.md): what the plan reaches and what is proven.

    `service`: value = priority-weighted GPU demand served, bound = proven upper bound on it,
    gap = (bound - value) / bound. `cost`: value = $/h, bound = proven lower bound on the
    cost of any plan serving at least as much, gap = (value - bound) / value."""

    stage: str  # service | cost
    value: float
    bound: float
    gap: float
    status: str = ""  # optimal | stalled | node-limit | time-limit (the clock's safety net) | heuristic
    method: str = ""
    demand: float = 0.0  # service: the priority-weighted GPU demand (all of it, served or not)


class Bound(_Out):
    """A proven lower bound on the hourly cost of any plan serving at least as much.

    When work is left short the optimizer's objective is cost plus a shortfall penalty
    (the price of unserved work, see docs/planning.md); `objective_gap` is the gap on
    that whole objective, `gap` the strict gap on cost alone."""

    cost_per_hour_lower_bound: float
    gap: float  # (cost - bound) / cost
    method: str = ""  # how the bound was proven
    shortfall_penalty_per_hour: float = 0.0  # the plan's penalty for work left short
    objective_lower_bound: float = 0.0  # proven bound on cost + shortfall penalty
    objective_gap: float = 0.0
    stages: list[StageBound] = Field(default_factory=list)  # service first, then cost


class ResilienceEntry(_Out):
    failed_site: str
    absorbable: bool
    unplaced: list[Unplaced]
    moved_replicas: int = 0
    cost_delta_per_hour: float = 0.0
    # how it was decided: "no work here", "greedy failover" (a proof when absorbable),
    # "exact failover", "exact failover (node limit)", or a note that the clock's safety net cut it short
    method: str = ""


class WorkloadSummary(_Out):
    workload: str
    type: str
    priority: int
    replicas: int
    placed: str  # e.g. "fra-1 H100-SXM x2, par-1 H100-SXM x1"
    why: str


class SolverInfo(_Out):
    strategy: str  # optimizer | greedy
    solver: str = ""
    # optimal | time-limit | stalled | heuristic (proves nothing: greedy, big-fleet repair) | infeasible | error
    status: str = ""
    seconds: float = 0.0
    variables: int = 0
    constraints: int = 0
    notes: list[str] = Field(default_factory=list)
    stage_seconds: dict[str, float] = Field(default_factory=dict)  # wall-clock per stage (service, cost)


class BurstSpend(_Out):
    spend_per_hour: float  # real hourly cost of work on burst sites
    cap_per_hour: float | None = None


class BurstReport(_Out):
    """Extension (issue 8), present when the Objective has a burst section."""

    spend_per_hour: float  # real hourly cost of all work on burst sites
    cap_per_hour: float | None = None  # burst.max_spend_per_hour
    by_team: dict[str, BurstSpend] = Field(default_factory=dict)  # teams with a cap or with burst spend
    capped: list[str] = Field(default_factory=list)  # workloads left (partly) short while a cap binds
    burst_site_types: list[str] = Field(default_factory=list)
    prefer: list[str] = Field(default_factory=list)


class HourlyRange(_Out):
    min: float
    mean: float
    max: float


class OverDay(_Out):
    """Extension (issue 11): the plan's assignments, fixed, priced at each hour of one UTC day
    from the sites' traces (`fleetyard plan` when any site has a trace; docs/cost.md)."""

    start: datetime
    end: datetime
    cost_per_hour: HourlyRange
    carbon_kg_per_hour: HourlyRange
    power_kw: HourlyRange  # facility power: IT x PUE(t)


class AttestedCapacity(_Out):
    """Extension (issue 14): a SKU planned with fewer GPUs than its Site declares, because the
    site's agent found fewer (`fleetyard server --attested-capacity`; docs/attestation.md)."""

    site: str
    gpu_sku: str
    declared: int
    found: int
    planned: int  # min(declared, found)


class Plan(_Out):
    assignments: list[Assignment]
    routes: list[Route]
    unplaced: list[Unplaced]
    sites: list[SiteUsage]
    totals: Totals
    bound: Bound
    resilience: list[ResilienceEntry] = Field(default_factory=list)
    workloads: list[WorkloadSummary] = Field(default_factory=list)
    solver: SolverInfo = Field(default_factory=lambda: SolverInfo(strategy="optimizer"))
    burst: BurstReport | None = None
    # Extension (issue 11): workloads with a `schedule`, left to `fleetyard schedule`
    deferred: list[str] = Field(default_factory=list)
    # Extension (issue 11): hourly cost and carbon of this plan over a day of the traces
    over_day: OverDay | None = None
    # Extension (issue 14): capacity cut to the GPUs the sites' agents found
    attested: list[AttestedCapacity] = Field(default_factory=list)
