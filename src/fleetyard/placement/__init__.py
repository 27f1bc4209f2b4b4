"""Placement: filters, scorers, the runner, the global optimizer, greedy, resilience."""

from __future__ import annotations

from fleetyard.placement.optimizer import OptimizerOptions
from fleetyard.placement.planner import STRATEGIES, Planner, PlanOptions, Strategy, plan_fleet
from fleetyard.placement.resilience import Failover, failover

__all__ = [
    "STRATEGIES",
    "Failover",
    "OptimizerOptions",
    "PlanOptions",
    "Planner",
    "Strategy",
    "failover",
    "plan_fleet",
]
