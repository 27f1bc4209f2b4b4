"""`Placement`: the raw outcome of a strategy, before it is priced and explained."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageResult:
    """One stage of the staged objective (see `stages`): what the plan reaches and what is proven.

    service: `value` = priority-weighted GPU demand served, `bound` = proven upper bound.
    cost: `value` = hourly cost ($/h), `bound` = proven lower bound among plans serving as much."""

    stage: str  # service | cost
    value: float
    bound: float
    gap: float
    status: str
    method: str
    demand: float = 0.0  # service: priority-weighted GPU demand
    seconds: float = 0.0


@dataclass
class Placement:
    """Replicas per workload and pool, routes, and what could not be placed or served."""

    strategy: str
    replicas: dict[str, dict[int, int]] = field(default_factory=dict)  # w -> pool -> replicas
    routes: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)  # w -> (region, site) -> rps
    unserved: dict[str, dict[int, float]] = field(default_factory=dict)  # w -> region -> rps
    missing: dict[str, int] = field(default_factory=dict)  # replicas short of replicas.min
    spread_short: dict[str, int] = field(default_factory=dict)  # sites short of spread.min_sites
    solver: str = ""
    status: str = "optimal"
    seconds: float = 0.0
    variables: int = 0
    constraints: int = 0
    objective: float | None = None  # cost of the plan in the model (linearized egress)
    penalty: float | None = None  # the plan's shortfall penalty in the model's objective
    bound: float | None = None  # proven lower bound on cost for this service level
    objective_bound: float | None = None  # proven lower bound on cost + shortfall penalty
    bound_method: str = ""
    stages: list[StageResult] = field(default_factory=list)  # the staged objective's reports
    notes: list[str] = field(default_factory=list)

    def add_replicas(self, workload: str, pool: int, n: int) -> None:
        if n > 0:
            pools = self.replicas.setdefault(workload, {})
            pools[pool] = pools.get(pool, 0) + n

    def add_route(self, workload: str, region: int, site: int, rps: float) -> None:
        if rps > 0:
            routes = self.routes.setdefault(workload, {})
            routes[(region, site)] = routes.get((region, site), 0.0) + rps

    def total_replicas(self, workload: str) -> int:
        return sum(self.replicas.get(workload, {}).values())
