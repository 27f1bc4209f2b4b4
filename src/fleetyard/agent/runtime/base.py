"""The runtime interface: how a site agent makes workloads run.

The agent decides *what* runs (which workloads, how many replicas, on which verified
model folder); a runtime makes it so and says how it is going. `apply` is called
again and again with the whole desired set - it must be idempotent and converge -
and `poll` supervises in between (restarts, rollouts).

A new version (issue 10) starts beside the old one: at most `max_unavailable`
replicas of a workload switch at once, and an old replica stops only when its
successor is ready - by the HTTP `probe` when the run has one (the agent's prober
probes `endpoints()`), else once up for a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fleetyard.spec.rollout import ProbeSpec

__all__ = ["Endpoint", "ReplicaCounts", "Runtime", "WorkloadRun"]


@dataclass(frozen=True)
class WorkloadRun:
    """One workload as the site must run it, with the model folder to give it."""

    name: str
    model_ref: str  # name:version actually run (may be older than desired while syncing)
    model_dir: Path
    replicas: int
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    gpu_sku: str = ""
    gpus_per_replica: int = 0
    probe: ProbeSpec | None = None  # readiness: HTTP GET on the replica's FLEETYARD_PORT
    max_unavailable: int = 1  # replicas switching to a new version at once
    # issue 14 (docs/secrets.md): variables whose values come from Secrets, never logged or
    # written by the runtime except where the platform keeps secrets (a Kubernetes Secret);
    # `secret_digest` (the server's digests) changes when a value does, and restarts replicas.
    secret_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secret_digest: str = ""

    @property
    def env_dict(self) -> dict[str, str]:
        """The workload's own environment variables (without those from Secrets)."""
        return dict(self.env)


@dataclass(frozen=True)
class ReplicaCounts:
    """Replicas of one workload: wanted, running, healthy; and why not, if not."""

    desired: int = 0
    running: int = 0
    healthy: int = 0
    restarts: int = 0
    error: str | None = None
    model_ref: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    model_running: int = 0  # replicas running `model_ref` (the others still run the version before)
    model_ready: int = 0  # of those, ready (by the probe, or up for a second without one)
    switching: int = 0  # old replicas still serving while their successor gets ready


@dataclass(frozen=True)
class Endpoint:
    """One replica process a prober can reach (on 127.0.0.1:port)."""

    workload: str
    index: int
    port: int
    model_ref: str
    started: float  # when the process started (monotonic): tells incarnations apart
    probe: ProbeSpec | None = None


class Runtime(Protocol):
    """Runs workloads on the site (processes, Kubernetes, ...)."""

    name: str

    def apply(self, runs: Sequence[WorkloadRun]) -> None:
        """Converge on exactly these workloads; anything else is stopped."""
        ...

    def poll(self) -> None:
        """Supervise: restart what died, continue rollouts. Called often."""
        ...

    def status(self) -> dict[str, ReplicaCounts]:
        """Replica counts per workload name."""
        ...

    def endpoints(self) -> list[Endpoint]:
        """Replica processes the agent can probe (none where the platform probes itself)."""
        ...

    def stop(self) -> None:
        """Stop everything this runtime started (agent shutdown)."""
        ...
