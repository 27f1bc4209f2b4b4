"""Judging one site of a wave: is the new version healthy there, still coming up, or failed?

The inputs are what the site's agent reported about the version it was told to run
(`Observation`, the engine's view of the wire's `WorkloadHealth`), how many replicas the
plan puts there, and how long ago the site switched. The verdict is `healthy`,
`waiting` (not yet, within the deadline) or `failed`, with a reason a person can act
on, always starting with the site: `par-1: 1/3 replicas healthy after 120 s: GET
/healthz returned 500`.

The gates, in order:
1. a site the plan no longer gives replicas of the workload has nothing to judge (healthy);
2. no report about the new version yet: waiting, failed after the deadline;
3. the `validate` command failed: failed at once; still running: waiting, failed after
   the deadline plus the command's own timeout;
4. metrics over their limits (error ratio, p95 latency): failed at once;
5. ready / desired >= min_healthy_ratio: healthy; below it: waiting until the deadline
   (`health.deadline_s` since the switch), failed after it - or failed at once while
   the wave bakes (it was healthy and is not any more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from fleetyard.spec.rollout import HealthSpec

__all__ = ["Observation", "Verdict", "judge", "needed"]

VerdictStatus = Literal["healthy", "waiting", "failed"]


@dataclass(frozen=True)
class Observation:
    """What a site's agent last reported about the version it was told to run."""

    model: str  # the name:version these observations are about
    validation: str = "none"  # none | running | passed | failed
    validation_message: str | None = None
    ready: int = 0  # replicas of `model` passing the probe
    total: int = 0  # replicas of `model` running
    error_ratio: float | None = None
    p95_ms: float | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Verdict:
    status: VerdictStatus
    reason: str | None = None


def needed(health: HealthSpec, desired: int) -> int:
    """Replicas that must pass the probe at a site that should run `desired` of them."""
    return max(1, math.ceil(health.min_healthy_ratio * desired - 1e-9)) if desired > 0 else 0


def _secs(s: float) -> str:
    return f"{s:.0f} s"


def judge(site: str, health: HealthSpec, desired: int, obs: Observation | None, to_model: str, elapsed_s: float, *,
          baking: bool = False, validate_timeout_s: float | None = None) -> Verdict:
    """The verdict on one site, `elapsed_s` seconds after it switched to `to_model`."""
    if desired <= 0:
        return Verdict("healthy")
    late = elapsed_s >= health.deadline_s
    if obs is None or obs.model != to_model:
        if not late:
            return Verdict("waiting", f"{site}: no report about {to_model} yet")
        said = f" (it still reports {obs.model})" if obs is not None else ""
        return Verdict("failed", f"{site}: the agent reported nothing about {to_model} after "
                                 f"{_secs(elapsed_s)}{said}")
    if obs.validation == "failed":
        msg = f": {obs.validation_message}" if obs.validation_message else ""
        return Verdict("failed", f"{site}: validation of {to_model} failed{msg}")
    if validate_timeout_s is not None and obs.validation != "passed":
        if elapsed_s >= health.deadline_s + validate_timeout_s:
            return Verdict("failed", f"{site}: validation of {to_model} did not finish within "
                                     f"{_secs(health.deadline_s + validate_timeout_s)}")
        return Verdict("waiting", f"{site}: validating {to_model}")
    gate = health.metrics
    if gate is not None:
        if gate.max_error_ratio is not None and obs.error_ratio is not None and obs.error_ratio > gate.max_error_ratio:
            return Verdict("failed", f"{site}: error ratio {obs.error_ratio:.2%} is above the limit "
                                     f"{gate.max_error_ratio:.2%}")
        if gate.max_p95_ms is not None and obs.p95_ms is not None and obs.p95_ms > gate.max_p95_ms:
            return Verdict("failed", f"{site}: p95 latency {obs.p95_ms:.0f} ms is above the limit "
                                     f"{gate.max_p95_ms:.0f} ms")
    need = needed(health, desired)
    if obs.ready >= need:
        return Verdict("healthy")
    why = f": {obs.last_error}" if obs.last_error else ""
    if baking:
        return Verdict("failed", f"{site}: {obs.ready}/{desired} replicas healthy while baking, "
                                 f"{_secs(elapsed_s)} after the switch{why}")
    if late:
        return Verdict("failed", f"{site}: {obs.ready}/{desired} replicas healthy after {_secs(elapsed_s)}{why}")
    return Verdict("waiting", f"{site}: {obs.ready}/{desired} replicas healthy (need {need}){why}")
