"""The `rollout` block of a Workload (issue 10): how a new version reaches the sites.

    spec:
      rollout:
        strategy: canary                  # all-at-once (default) | canary
        waves: [{sites: 1}, {percent: 50}, {percent: 100}]   # or {selector: {ring: canary}}
        bake_s: 120                       # a wave must stay healthy this long
        max_unavailable: 1                # replicas per site switching at once
        health:
          probe: {http: /healthz, timeout_s: 2, period_s: 5}
          min_healthy_ratio: 1.0
          metrics: {url_path: /metrics, max_error_ratio: 0.01, max_p95_ms: 250}
        validate: {command: ["python", "smoke.py"], timeout_s: 300}
        auto_rollback: true

Omitted, a workload rolls out all at once, as before this block existed. A wave names
how many of the workload's sites it adds: `sites` (a count), `percent` (of all its
sites, cumulative: `{percent: 50}` means up to half of the sites have switched when the
wave is done) or `selector` (the sites whose labels match). Which sites are switched by
a count or a percentage is the server's decision (services/rollouts.py explains it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fleetyard.spec.quantities import MAX_SITES

__all__ = ["HealthSpec", "MetricsGate", "ProbeSpec", "RolloutSpec", "ValidateSpec", "Wave"]

MAX_BAKE_S = 7 * 86_400.0
"""Seconds a wave bakes: a week is longer than any canary anyone waits for."""

MAX_TIMEOUT_S = 86_400.0
"""Seconds for a probe, a validation command or a health deadline: a day."""

MAX_P95_MS = 600_000.0
"""Milliseconds of p95 latency a gate may allow: ten minutes."""

MAX_REPLICAS_SWITCHING = 1_000_000
UrlPath = Annotated[str, StringConstraints(pattern=r"^/[^\s\x00]*$", max_length=1024)]
Arg = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Wave(_Frozen):
    """One wave: exactly one of `sites`, `percent`, `selector`."""

    sites: int | None = Field(default=None, ge=1, le=MAX_SITES)
    percent: float | None = Field(default=None, gt=0, le=100)
    selector: dict[str, str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> Wave:
        given = [k for k in ("sites", "percent", "selector") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a wave needs exactly one of sites, percent or selector, got "
                             + (", ".join(given) if given else "none"))
        return self


class ProbeSpec(_Frozen):
    """An HTTP GET the agent sends to every replica on its FLEETYARD_PORT; 2xx is healthy."""

    http: UrlPath = "/healthz"
    timeout_s: float = Field(default=2.0, gt=0, le=MAX_TIMEOUT_S)
    period_s: float = Field(default=5.0, gt=0, le=MAX_TIMEOUT_S)


class MetricsGate(_Frozen):
    """Prometheus text scraped from each replica: error ratio and p95 latency limits."""

    url_path: UrlPath = "/metrics"
    max_error_ratio: float | None = Field(default=None, ge=0, le=1)
    max_p95_ms: float | None = Field(default=None, gt=0, le=MAX_P95_MS)


class HealthSpec(_Frozen):
    probe: ProbeSpec | None = None
    min_healthy_ratio: float = Field(default=1.0, gt=0, le=1)
    metrics: MetricsGate | None = None
    deadline_s: float = Field(default=300.0, gt=0, le=MAX_TIMEOUT_S)  # replicas must be healthy by then


class ValidateSpec(_Frozen):
    """A command the agent runs on the site's own hardware before the new version serves."""

    command: list[Arg] = Field(min_length=1, max_length=256)
    timeout_s: float = Field(default=300.0, gt=0, le=MAX_TIMEOUT_S)


def _default_waves() -> list[Wave]:
    return [Wave(percent=100.0)]


class RolloutSpec(_Frozen):
    strategy: Literal["all-at-once", "canary"] = "all-at-once"
    waves: list[Wave] = Field(default_factory=_default_waves, min_length=1, max_length=100)
    bake_s: float = Field(default=120.0, ge=0, le=MAX_BAKE_S)
    max_unavailable: int = Field(default=1, ge=1, le=MAX_REPLICAS_SWITCHING)
    health: HealthSpec = Field(default_factory=HealthSpec)
    validate_: ValidateSpec | None = Field(default=None, alias="validate")
    auto_rollback: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True)
