"""The agent's Prometheus metrics (names as in docs/api.md), on its own registry.

Counters: bytes fetched per source, chunks fetched and rejected, heartbeat failures,
bytes served to peers (relay). Gauges: one series per model ref and state (1 for the
current state, 0 otherwise), replicas per workload and state, whether the site is in
a sync window, when the last heartbeat was accepted, whether the control plane answers
and how old the desired state is (agent/failstatic.py). Rollouts (issue 10): the
validation state of each workload's desired version (1 for the current state) and
the replicas of that version ready by the probe. Telemetry (issue 12): samples dropped
unsent because the buffer was full, and samples waiting (agent/sample_buffer.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest

from fleetyard.services.wire import ModelState, ValidationState

__all__ = ["AgentMetrics"]

STATES: tuple[ModelState, ...] = ("pending", "syncing", "synced", "active", "failed")
VALIDATIONS: tuple[ValidationState, ...] = ("none", "running", "passed", "failed")


class AgentMetrics:
    """Every metric of one agent."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twins: the names are the ones documented
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.bytes_fetched = Counter("fleetyard_agent_bytes_fetched", "Bytes received from registry sources.",
                                     ["source"], registry=r)
        self.chunks_fetched = Counter("fleetyard_agent_chunks_fetched", "Chunks fetched, verified and stored.",
                                      registry=r)
        self.chunks_rejected = Counter("fleetyard_agent_chunks_rejected",
                                       "Chunks refused because they did not match their BLAKE3 name.", registry=r)
        self.heartbeat_failures = Counter("fleetyard_agent_heartbeat_failures",
                                          "Status reports the server did not accept.", registry=r)
        self.bytes_served = Counter("fleetyard_agent_bytes_served", "Bytes served to peer sites (relay).",
                                    registry=r)
        self.model_state = Gauge("fleetyard_agent_model_state", "1 for the model version's current state.",
                                 ["ref", "state"], registry=r)
        self.replicas = Gauge("fleetyard_agent_replicas", "Replicas per workload by state (desired, running, healthy).",
                              ["workload", "state"], registry=r)
        self.in_sync_window = Gauge("fleetyard_agent_in_sync_window", "1 when the site may download now.",
                                    registry=r)
        self.control_plane_up = Gauge("fleetyard_agent_control_plane_up",
                                      "1 while the control plane answers, 0 while the agent runs its last desired "
                                      "state without it (fail static).", registry=r)
        self.desired_state_age = Gauge("fleetyard_agent_desired_state_age_seconds",
                                       "Seconds since the last successful desired-state poll.", registry=r)
        self.last_heartbeat = Gauge("fleetyard_agent_last_heartbeat_timestamp_seconds",
                                    "When the server last accepted a status report.", registry=r)
        self.rollout_validation = Gauge("fleetyard_agent_rollout_validation",
                                        "1 for the validation state of the workload's desired version.",
                                        ["workload", "model", "state"], registry=r)
        self.rollout_ready = Gauge("fleetyard_agent_rollout_ready_replicas",
                                   "Replicas of the workload's desired version ready by its probe.",
                                   ["workload", "model"], registry=r)
        self.samples_dropped = Counter("fleetyard_agent_samples_dropped",
                                       "Telemetry samples dropped unsent because the buffer was full.", registry=r)
        self.samples_buffered = Gauge("fleetyard_agent_samples_buffered",
                                      "Telemetry samples waiting for the server to accept them.", registry=r)
        self._rollout_models: dict[str, str] = {}

    def set_model_state(self, ref: str, state: ModelState) -> None:
        """Mark `state` as the current state of `ref`."""
        for s in STATES:
            self.model_state.labels(ref=ref, state=s).set(1.0 if s == state else 0.0)

    def set_replicas(self, workload: str, desired: int, running: int, healthy: int) -> None:
        """Replica counts of one workload."""
        self.replicas.labels(workload=workload, state="desired").set(desired)
        self.replicas.labels(workload=workload, state="running").set(running)
        self.replicas.labels(workload=workload, state="healthy").set(healthy)

    def set_rollout(self, workload: str, model: str, validation: ValidationState, ready: int) -> None:
        """A workload's desired version: its validation state and ready replicas (older versions' series go)."""
        old = self._rollout_models.get(workload)
        if old is not None and old != model:
            for s in VALIDATIONS:
                self.rollout_validation.remove(workload, old, s)
            self.rollout_ready.remove(workload, old)
        self._rollout_models[workload] = model
        for s in VALIDATIONS:
            self.rollout_validation.labels(workload=workload, model=model, state=s).set(1.0 if s == validation else 0.0)
        self.rollout_ready.labels(workload=workload, model=model).set(ready)

    def render(self) -> bytes:
        """The Prometheus text exposition format."""
        return generate_latest(self.registry)
