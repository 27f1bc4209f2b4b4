"""The site agent: heartbeat, desired state, sync, activation, workloads, relay.

Every heartbeat interval the agent fetches its site's desired state and reports its
status (`PUT /api/v1/sites/{site}/status`); when something changes (a version became
active, a sync failed) it reports at once. The sync worker brings each desired
model version to `active` in the background. Workloads run only on verified, active
model folders: a workload whose desired version is not active yet keeps running the
version it runs (or the model's `active` one after a restart); one with no verified
version at all waits. The control plane being away is tolerated: the agent keeps
running what it has and retries.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fleetyard import __version__
from fleetyard.agent.config import AgentConfig
from fleetyard.agent.controlplane import ControlPlane
from fleetyard.agent.failstatic import FailStatic, unreachable
from fleetyard.agent.metrics import AgentMetrics
from fleetyard.agent.models import ModelDirs
from fleetyard.agent.relay import Relay, TokenCache
from fleetyard.agent.runtime import KubernetesRuntime, ProcessRuntime, ReplicaCounts, Runtime, WorkloadRun
from fleetyard.agent.syncer import SyncWorker
from fleetyard.agent.telemetry import GpuTelemetry
from fleetyard.agent.tracker import ModelTracker
from fleetyard.registry import open_store
from fleetyard.registry.names import parse_ref
from fleetyard.replication import Clock, SystemClock, TokenBucket
from fleetyard.services.client import ApiError
from fleetyard.services.wire import DesiredState, DesiredWorkload, Replicas, SiteReport, WorkloadStatus

__all__ = ["Agent", "make_runtime"]

REPORT_MIN_GAP = 0.3


def make_runtime(config: AgentConfig) -> Runtime:
    """The runtime the config names."""
    if config.runtime == "kubernetes":
        return KubernetesRuntime(config.data_dir, site=config.site, kubeconfig=config.kubeconfig,
                                 namespace=config.namespace, image=config.image)
    return ProcessRuntime(config.data_dir, site=config.site)


class Agent:
    """One site's agent; `run(stop)` until `stop` is set, then `shutdown()`."""

    def __init__(self, config: AgentConfig, control: ControlPlane, *, clock: Clock | None = None,
                 runtime: Runtime | None = None) -> None:
        self.config, self.control = config, control
        self.clock = clock if clock is not None else SystemClock()
        d = config.data_dir
        self.local = open_store(d / "registry", create=True)
        self.dirs = ModelDirs(d / "models", config.trust_keys)
        self.metrics = AgentMetrics()
        self.tracker = ModelTracker(d / "state" / "transfers.json", self.metrics)
        self.limiter = TokenBucket.from_mbps(config.max_mbps) if config.max_mbps else None
        self.runtime = runtime if runtime is not None else make_runtime(config)
        self._changed = threading.Event()
        self.syncer = SyncWorker(site=config.site, local=self.local, dirs=self.dirs, tracker=self.tracker,
                                 control=control, limiter=self.limiter, clock=self.clock, metrics=self.metrics,
                                 cache_dir=d / "cache", on_change=self._changed.set,
                                 relay_wait=config.relay_wait)
        self.relay: Relay | None = None
        if config.listen is not None:
            tokens = TokenCache(control.check_token)
            self.relay = Relay(d / "registry", config.listen[0], config.listen[1], tokens, self.metrics)
        self.telemetry = GpuTelemetry()
        self.desired: DesiredState | None = None
        self.desired_error: str | None = None
        self.failstatic = FailStatic(d / "state", self.metrics, site=config.site)
        self._applied: list[WorkloadRun] | None = None
        self._last_report = 0.0

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, desired: DesiredState | None = None, *, kept: bool = False) -> None:
        """Clean crash leftovers, start the relay and the sync worker (`kept`: `desired` is the
        one kept on disk, the server being unreachable; agent/failstatic.py)."""
        self.dirs.clean_leftovers()
        if desired is not None:
            self._use(desired)
            if kept:
                self.failstatic.failed("unreachable at start-up", desired)
            else:
                self.failstatic.polled(desired)
        if self.relay is not None:
            self.relay.start()
        self.syncer.start()

    def run(self, stop: threading.Event) -> None:
        """The main loop; returns when `stop` is set."""
        next_poll = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                self._poll_desired()
                self._reconcile()
                self._report()
                next_poll = now + self.config.heartbeat
            elif self._changed.is_set() and now - self._last_report >= REPORT_MIN_GAP:
                self._changed.clear()
                self._reconcile()
                self._report()
            else:
                self._reconcile()
            self.runtime.poll()
            stop.wait(0.2)

    def shutdown(self) -> None:
        """Pause syncs, stop replicas (process runtime), report once more, close."""
        self.syncer.stop()
        self.runtime.stop()
        self._report()
        if self.relay is not None:
            self.relay.stop()
        self.tracker.save()
        self.control.close()

    # ---- steps ---------------------------------------------------------------------------

    def _use(self, desired: DesiredState) -> None:
        self.desired = desired
        self.syncer.update(desired)

    def _poll_desired(self) -> None:
        try:
            desired = self.control.desired(self.config.site)
            self._use(desired)
            self.desired_error = None
            self.failstatic.polled(desired)
        except ApiError as exc:
            self.desired_error = exc.message
            if unreachable(exc.status):
                self.failstatic.failed(exc.message, self.desired)

    def _model_for(self, w: DesiredWorkload) -> str | None:
        """The verified version a workload should run now (see the module docstring)."""
        r = parse_ref(w.model)
        if r.version is not None and self.tracker.get(w.model).state == "active" and self.dirs.is_materialized(w.model):
            return w.model
        for run in self._applied or []:
            if run.name == w.name and run.model_ref.split(":", 1)[0] == r.name and self.dirs.is_materialized(
                    run.model_ref):
                return run.model_ref
        active = self.dirs.active(r.name)
        return f"{r.name}:{active}" if active is not None else None

    def _reconcile(self) -> None:
        if self.desired is None:
            return
        runs = []
        for w in self.desired.workloads:
            ref = self._model_for(w)
            if ref is None:
                continue
            name, version = ref.split(":", 1)
            runs.append(WorkloadRun(name=w.name, model_ref=ref, model_dir=self.dirs.path(name, version),
                                    replicas=w.replicas, command=tuple(w.command) if w.command else None,
                                    env=tuple(sorted(w.env.items())), gpu_sku=w.gpu_sku,
                                    gpus_per_replica=w.gpus_per_replica))
        if runs != self._applied:
            self.runtime.apply(runs)
            self._applied = runs
            keep = {m.ref for m in self.desired.models} | {r.model_ref for r in runs}
            self.dirs.prune(keep)

    def report(self) -> SiteReport:
        """The status report as it stands."""
        d = self.desired
        counts = self.runtime.status()
        workloads = [self._workload_status(w, counts.get(w.name)) for w in (d.workloads if d else [])]
        for w in workloads:
            self.metrics.set_replicas(w.name, w.replicas.desired, w.replicas.running, w.replicas.healthy)
        in_window = self.syncer.in_window()
        self.metrics.in_sync_window.set(1.0 if in_window else 0.0)
        return SiteReport(
            site=self.config.site, agent_version=__version__, revision=d.revision if d else None,
            peer_url=self._peer_url(), models=self.tracker.statuses([m.ref for m in d.models] if d else []),
            workloads=workloads, active=self.dirs.actives(), telemetry=self.telemetry.read(),
            in_sync_window=in_window,
        )

    def _peer_url(self) -> str | None:
        if self.relay is None:
            return None
        url = self.config.peer_url
        if url is not None and self.config.listen is not None and self.config.listen[1] == 0:
            url = url.rsplit(":", 1)[0] + f":{self.relay.port}"
        return url

    def _workload_status(self, w: DesiredWorkload, c: ReplicaCounts | None) -> WorkloadStatus:
        if c is None:
            t = self.tracker.get(w.model)
            why = f"waiting for {w.model} ({t.state}{': ' + t.error if t.error else ''})"
            return WorkloadStatus(name=w.name, model=w.model, replicas=Replicas(desired=w.replicas), error=why)
        error = c.error
        if c.model_ref is not None and c.model_ref != w.model:
            t = self.tracker.get(w.model)
            note = f"running {c.model_ref}; {w.model} is {t.state}" + (f": {t.error}" if t.error else "")
            error = f"{note}; {error}" if error else note
        return WorkloadStatus(name=w.name, model=c.model_ref or w.model,
                              replicas=Replicas(desired=w.replicas, running=c.running, healthy=c.healthy), error=error)

    def _report(self) -> None:
        self._last_report = time.monotonic()
        try:
            self.control.report(self.report())
            self.metrics.last_heartbeat.set(time.time())
        except ApiError:
            self.metrics.heartbeat_failures.inc()
        self.tracker.save(only_if_dirty=True)

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir
