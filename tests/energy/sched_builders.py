"""Small fleets with deferrable jobs and hand-written traces, for the scheduler's tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from fleetyard.placement import Planner, PlanOptions
from fleetyard.spec import Fleet, Workload
from fleetyard.spec.plan import Plan
from fleetyard.spec.trace import Trace, format_time

API = "fleetyard/v1"
T0 = datetime(2020, 6, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def job(name: str, *, earliest: float = 0, deadline: float = 24, duration: float = 4,
        interruptible: bool = False, overhead: float = 0.25, gpus: int = 1, replicas: int = 1,
        power_kw: float | None = 1.0, priority: int = 0, skus: list[str] | None = None,
        labels: dict[str, str] | None = None, type: str = "batch") -> Workload:
    replica: dict[str, Any] = {"gpus": gpus}
    if power_kw is not None:
        replica["power_kw"] = power_kw
    if skus is not None:
        replica["gpu_skus"] = skus
    sched: dict[str, Any] = {"earliest": format_time(at(earliest)), "deadline": format_time(at(deadline)),
                             "duration_h": duration, "interruptible": interruptible}
    if interruptible:
        sched["checkpoint_overhead_h"] = overhead
    return Workload.model_validate({
        "apiVersion": API, "kind": "Workload", "metadata": {"name": name, "labels": labels or {}},
        "spec": {"type": type, "model": f"{name}:1", "priority": priority, "replica": replica,
                 "replicas": {"min": replicas, "max": replicas}, "schedule": sched}})


def hourly(values: list[float] | np.ndarray, start: datetime = T0, name: str = "trace.csv") -> Trace:
    return Trace(name, start, 3600, {"carbon_g_per_kwh": np.asarray(values, dtype=np.float64)})


def with_traces(fleet: Fleet, traces: dict[str, Trace]) -> Fleet:
    return replace(fleet, traces=traces)


def always_on(fleet: Fleet) -> Plan:
    return Planner(fleet).plan(PlanOptions(strategy="greedy", resilience=False, explain=False))
