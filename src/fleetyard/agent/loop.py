"""The site agent: heartbeat, desired state, sync, activation, workloads, relay.

Every heartbeat interval the agent fetches its site's desired state and reports its
status (`PUT /api/v1/sites/{site}/status`); when something changes (a version became
active, a sync failed) it reports at once. The sync worker brings each desired
model version to `active` in the background. Workloads run only on verified, active
model folders: a workload whose desired version is not active yet keeps running the
version it runs (or the model's `active` one after a restart); one with no verified
version at all waits. The control plane being away is tolerated: the agent keeps
running what it has and retries.

Rollouts (issue 10, docs/rollouts.md, At the site): a desired version with `validate` runs
only once its validation passed at this site (agent/validate.py); until then the
workload keeps the version it runs. The runtime switches replicas with the new one
started beside the old and the old stopped once the new is ready by `health.probe`
(agent/health.py probes them). A version whose replicas all became ready is
known-good (agent/known_good.py): going back to one switches every replica at once
and needs no validation, and an agent restarted mid-switch first brings back the
version that was healthy, then tries the new one again beside it.

Telemetry (issue 12, docs/telemetry-agent.md): every heartbeat adds one sample
(agent/samples.py) to a bounded buffer (agent/sample_buffer.py); each report carries the
oldest buffered samples, which leave the buffer once the server accepted the report.

Attestation (issue 14, docs/attestation.md): each report carries the GPUs the agent found
(agent/inventory.py, probed in the background) and how they differ from the Site's declared GPUs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from fleetyard import __version__
from fleetyard.agent.config import AgentConfig
from fleetyard.agent.controlplane import ControlPlane
from fleetyard.agent.failstatic import FailStatic, unreachable
from fleetyard.agent.health import HealthSummary, Prober
from fleetyard.agent.inventory import InventoryProbe
from fleetyard.agent.known_good import KnownGood
from fleetyard.agent.metrics import AgentMetrics
from fleetyard.agent.models import ModelDirs
from fleetyard.agent.ofrep import FlagBook, OfrepServer
from fleetyard.agent.relay import Relay, TokenCache
from fleetyard.agent.runtime import KubernetesRuntime, ProcessRuntime, ReplicaCounts, Runtime, WorkloadRun
from fleetyard.agent.runtime.process import Readiness
from fleetyard.agent.sample_buffer import SampleBuffer, default_capacity
from fleetyard.agent.samples import SyncLag, build_sample
from fleetyard.agent.syncer import SyncWorker
from fleetyard.agent.telemetry import GpuTelemetry
from fleetyard.agent.tracker import ModelTracker
from fleetyard.agent.validate import Validation, Validations
from fleetyard.agent.workload_metrics import WorkloadScraper
from fleetyard.registry import open_store
from fleetyard.registry.names import parse_ref
from fleetyard.replication import Clock, SystemClock, TokenBucket
from fleetyard.services.client import ApiError
from fleetyard.services.wire import DesiredState, DesiredWorkload, Replicas, SiteReport, WorkloadHealth, WorkloadStatus
from fleetyard.services.wire_telemetry import Sample

__all__ = ["Agent", "make_runtime"]

REPORT_MIN_GAP = 0.3


def secret_values(w: DesiredWorkload) -> dict[str, str] | None:
    """The workload's variables from Secrets (docs/secrets.md); None when one has no value."""
    out = {var: e.value for var, e in w.secret_env.items() if e.value is not None}
    return out if len(out) == len(w.secret_env) else None


def make_runtime(config: AgentConfig, ready: Readiness | None = None,
                 env: Mapping[str, str] | None = None) -> Runtime:
    """The runtime the config names (`ready`: the probe verdicts; `env`: added to every
    replica's environment; both for the process runtime)."""
    if config.runtime == "kubernetes":
        return KubernetesRuntime(config.data_dir, site=config.site, kubeconfig=config.kubeconfig,
                                 in_cluster=config.in_cluster, namespace=config.namespace, image=config.image,
                                 model_pvc=config.model_pvc)
    return ProcessRuntime(config.data_dir, site=config.site, ready=ready,
                          base_env={**os.environ, **env} if env else None)


class Agent:
    """One site's agent; `run(stop)` until `stop` is set, then `shutdown()`."""

    def __init__(self, config: AgentConfig, control: ControlPlane, *, clock: Clock | None = None,
                 runtime: Runtime | None = None) -> None:
        self.config, self.control = config, control
        self.clock = clock if clock is not None else SystemClock()
        d = config.data_dir
        self.local = open_store(d / "registry", create=True)
        self.dirs = ModelDirs(d / "models", config.trust_keys, config.provenance_policy(), site_key=config.site_key)
        self.metrics = AgentMetrics()
        self.tracker = ModelTracker(d / "state" / "transfers.json", self.metrics)
        self.limiter = TokenBucket.from_mbps(config.max_mbps) if config.max_mbps else None
        self.prober = Prober()
        self.validations = Validations(d / "state" / "validations.json", d / "logs", site=config.site)
        self.known_good = KnownGood(d / "state" / "known_good.json")
        self._booting: dict[str, tuple[str, float]] = {}  # workload -> (known-good version run first, since)
        self._seen: set[str] = set()
        self._counts: dict[str, ReplicaCounts] = {}
        self.flags = FlagBook(config.flags_file)  # issue 10: served over OFREP (agent/ofrep.py)
        self.ofrep = OfrepServer(self.flags, *config.flags_listen, self.metrics) if config.flags_listen else None
        ofrep_env = {"FLEETYARD_OFREP_URL": self.ofrep.url} if self.ofrep else None
        self.runtime = runtime if runtime is not None else make_runtime(config, self.prober.ready, ofrep_env)
        self._changed = threading.Event()
        self.syncer = SyncWorker(site=config.site, local=self.local, dirs=self.dirs, tracker=self.tracker,
                                 control=control, limiter=self.limiter, clock=self.clock, metrics=self.metrics,
                                 cache_dir=d / "cache", on_change=self._changed.set,
                                 relay_wait=config.relay_wait)
        self.relay: Relay | None = None
        if config.listen is not None:
            tokens = TokenCache(control.check_token, kept=d / "state" / "vouched-tokens.json")
            scrapers = TokenCache(control.check_scrape_token, kept=d / "state" / "vouched-scrapers.json")
            self.relay = Relay(d / "registry", config.listen[0], config.listen[1], tokens, self.metrics,
                               scrapers=scrapers)
        self.telemetry = GpuTelemetry(dcgm_url=config.dcgm_url)
        # issue 14: the GPUs present, against the declared ones (agent/inventory.py, docs/attestation.md)
        self.inventory = InventoryProbe(file=config.inventory_probe, every=config.inventory_every)
        # issue 12: one telemetry sample per heartbeat, buffered until the server accepts it
        self.samples = SampleBuffer(config.sample_buffer or default_capacity(config.heartbeat), self.metrics)
        self.scraper = WorkloadScraper(every=config.heartbeat)
        self.sync_lag = SyncLag()
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
        self.inventory.current()  # the first probe starts now, in the background
        if desired is not None:
            self._use(desired)
            if kept:
                self.failstatic.failed("unreachable at start-up", desired)
            else:
                self.failstatic.polled(desired)
        if self.relay is not None:
            self.relay.start()
        self.prober.start()
        self.scraper.start()
        if self.ofrep is not None:
            self.ofrep.start()
        self.syncer.start()

    def run(self, stop: threading.Event) -> None:
        """The main loop; returns when `stop` is set."""
        next_poll = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                self._poll_desired()
                self._reconcile()
                self._report(sample=True)
                next_poll = now + self.config.heartbeat
            elif self._changed.is_set() and now - self._last_report >= REPORT_MIN_GAP:
                self._changed.clear()
                self._reconcile()
                self._report()
            else:
                self._reconcile()
            self.runtime.poll()
            self._watch()
            stop.wait(0.2)

    def shutdown(self) -> None:
        """Pause syncs, stop replicas (process runtime), report once more, close."""
        self.syncer.stop()
        self.validations.stop()
        self.runtime.stop()
        self.prober.stop()
        self.scraper.stop()
        self._report()
        if self.relay is not None:
            self.relay.stop()
        if self.ofrep is not None:
            self.ofrep.stop()
        self.tracker.save()
        self.control.close()

    # ---- steps ---------------------------------------------------------------------------

    def _use(self, desired: DesiredState) -> None:
        self.desired = desired
        self.syncer.update(desired)
        self.flags.update(desired.flags, desired.flags_revision)

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

    def _watch(self) -> None:
        """Give the prober the replicas to probe."""
        d = self.desired
        gates = {w.name: (w.health.metrics if w.health else None) for w in (d.workloads if d else [])}
        endpoints = self.runtime.endpoints()
        self.prober.set_targets(endpoints, gates)
        self.scraper.set_targets(endpoints, {w.name: w.metrics for w in (d.workloads if d else [])})

    def _model_for(self, w: DesiredWorkload) -> str | None:
        """The verified version a workload should run now (see the module docstring)."""
        r = parse_ref(w.model)
        want = w.model if r.version is not None and self.dirs.is_materialized(w.model) else None
        if want is not None and w.validate_ is not None and (w.name, want) not in self.known_good:
            name, version = want.split(":", 1)
            v = self.validations.ensure(w.name, want, w.validate_, self.dirs.path(name, version),
                                        {**w.env, **(secret_values(w) or {})})
            if v.state != "passed":
                want = None
        if want is not None:
            return self._boot_target(w, want) or want
        for run in self._applied or []:
            if run.name == w.name and run.model_ref.split(":", 1)[0] == r.name and self.dirs.is_materialized(
                    run.model_ref):
                return run.model_ref
        good = self.known_good.latest(w.name)
        if good is not None and good.split(":", 1)[0] == r.name and self.dirs.is_materialized(good):
            return good
        active = self.dirs.active(r.name)
        ref = f"{r.name}:{active}" if active is not None else None
        return None if ref == w.model and w.validate_ is not None else ref  # never an unvalidated version

    def _boot_target(self, w: DesiredWorkload, want: str) -> str | None:
        """After a restart: the known-good version to bring back before switching to `want`, or None."""
        now = time.monotonic()
        boot = self._booting.get(w.name)
        if boot is not None:
            good, since = boot
            c = self._counts.get(w.name)
            back = c is not None and c.model_ref == good and c.model_ready >= w.replicas
            deadline = w.health.deadline_s if w.health is not None else 300.0
            if back or good == want or now - since > deadline:
                del self._booting[w.name]
                return None
            return good
        if w.name in self._seen:
            return None
        self._seen.add(w.name)
        if (w.health is None and w.validate_ is None) or any(run.name == w.name for run in self._applied or []):
            return None
        latest = self.known_good.latest(w.name)
        if latest is None:
            return None
        good = latest
        if (good == want or (w.name, want) in self.known_good
                or good.split(":", 1)[0] != want.split(":", 1)[0] or not self.dirs.is_materialized(good)):
            return None
        self._booting[w.name] = (good, now)
        return good

    def _reconcile(self) -> None:
        if self.desired is None:
            return
        self._counts = self.runtime.status()
        for w in self.desired.workloads:
            c = self._counts.get(w.name)
            if (c is not None and c.model_ref is not None and c.switching == 0 and w.replicas > 0
                    and c.model_running >= w.replicas and c.model_ready >= w.replicas):
                self.known_good.mark(w.name, c.model_ref)
        runs: list[WorkloadRun] = []
        for w in self.desired.workloads:
            secret_env = secret_values(w)
            if secret_env is None:  # a value the server could not give (its problems say why): keep what runs
                runs.extend(r for r in self._applied or [] if r.name == w.name)
                continue
            ref = self._model_for(w)
            if ref is None:
                continue
            name, version = ref.split(":", 1)
            runs.append(WorkloadRun(name=w.name, model_ref=ref, model_dir=self.dirs.path(name, version),
                                    replicas=w.replicas, command=tuple(w.command) if w.command else None,
                                    env=tuple(sorted(w.env.items())), gpu_sku=w.gpu_sku,
                                    gpus_per_replica=w.gpus_per_replica,
                                    probe=w.health.probe if w.health is not None else None,
                                    max_unavailable=w.replicas if (w.name, ref) in self.known_good
                                    else w.max_unavailable,
                                    secret_env=tuple(sorted(secret_env.items())),
                                    secret_digest=",".join(f"{k}={v.digest}" for k, v in
                                                           sorted(w.secret_env.items()))))
        if runs != self._applied:
            self.runtime.apply(runs)
            self._applied = runs
            keep = {m.ref for m in self.desired.models} | {r.model_ref for r in runs}
            keep |= {k for w in self.desired.workloads for k in w.keep}
            keep |= {g for w in self.desired.workloads if (g := self.known_good.latest(w.name)) is not None}
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
            inventory=self.inventory.current(d.declared_gpus if d and d.declared_gpus else None),
        )

    def _peer_url(self) -> str | None:
        if self.relay is None:
            return None
        url = self.config.peer_url
        if url is not None and self.config.listen is not None and self.config.listen[1] == 0:
            url = url.rsplit(":", 1)[0] + f":{self.relay.port}"
        return url

    def _workload_status(self, w: DesiredWorkload, c: ReplicaCounts | None) -> WorkloadStatus:
        v = self.validations.get(w.name, w.model, w.validate_) if w.validate_ is not None else None
        health = self._health(w, c, v)
        gate = v.message if v is not None and v.state in ("running", "failed") else None
        if c is None:
            t = self.tracker.get(w.model)
            why = f"waiting for {w.model} ({gate or t.state}{': ' + t.error if t.error and not gate else ''})"
            return WorkloadStatus(name=w.name, model=w.model, replicas=Replicas(desired=w.replicas), error=why,
                                  health=health, gpu_sku=w.gpu_sku, gpus_per_replica=w.gpus_per_replica)
        error = c.error
        if c.model_ref is not None and c.model_ref != w.model:
            t = self.tracker.get(w.model)
            note = (f"running {c.model_ref}; {w.model}: {gate}" if gate else
                    f"running {c.model_ref}; {w.model} is {t.state}" + (f": {t.error}" if t.error else ""))
            error = f"{note}; {error}" if error else note
        elif c.switching:
            last = health.last_error if health is not None else None
            note = f"switching to {c.model_ref}: {c.model_ready}/{c.desired} ready" + (f" ({last})" if last else "")
            error = f"{note}; {error}" if error else note
        return WorkloadStatus(name=w.name, model=c.model_ref or w.model,
                              replicas=Replicas(desired=w.replicas, running=c.running, healthy=c.healthy), error=error,
                              health=health, gpu_sku=w.gpu_sku, gpus_per_replica=w.gpus_per_replica)

    def _health(self, w: DesiredWorkload, c: ReplicaCounts | None, v: Validation | None) -> WorkloadHealth | None:
        """What the gates judge, for workloads with a `health` or `validate` (None otherwise)."""
        if w.health is None and v is None:
            return None
        on = c is not None and c.model_ref == w.model
        ready, total = (c.model_ready, c.model_running) if c is not None and on else (0, 0)
        watched = w.health is not None and (w.health.probe is not None or w.health.metrics is not None)
        s = self.prober.summary(w.name, w.model) if watched else HealthSummary()
        last_error = s.last_error or (c.error if c is not None and on else None)
        state = v.state if v is not None else "none"
        if not on and last_error is None and state not in ("running", "failed"):  # not started: what it waits for
            t, boot = self.tracker.get(w.model), self._booting.get(w.name)
            if boot is not None:
                last_error = f"agent restarted: bringing back {boot[0]} (healthy before) first, then {w.model}"
            elif t.state != "active":
                last_error = f"{w.model} is {t.state}" + (f": {t.error}" if t.error else "")
        self.metrics.set_rollout(w.name, w.model, state, ready)
        return WorkloadHealth(model=w.model, validation=state, validation_message=v.message if v else None,
                              ready=ready, total=total, error_ratio=s.error_ratio, p95_ms=s.p95_ms,
                              last_error=last_error)

    def sample(self, report: SiteReport) -> Sample:
        """This moment's telemetry sample (agent/samples.py), from `report` and the readings."""
        return build_sample(datetime.now(UTC), report, self.desired, self.telemetry.reading(),
                            requests=self.scraper.stats(), fetched=self.tracker.bytes_by_source(),
                            sync_lag_s=self.sync_lag.update(self.desired, report, time.monotonic()))

    def _report(self, *, sample: bool = False) -> None:
        """Send the status with the oldest buffered samples (`sample`: first add this heartbeat's);
        they leave the buffer only once the server accepted them (agent/sample_buffer.py)."""
        self._last_report = time.monotonic()
        report = self.report()
        if sample:
            self.samples.add(self.sample(report))
        batch = self.samples.batch()
        try:
            self.control.report(report.model_copy(update={"samples": batch}))
            self.samples.acknowledge(batch)
            self.metrics.last_heartbeat.set(time.time())
        except ApiError:
            self.metrics.heartbeat_failures.inc()
        self.tracker.save(only_if_dirty=True)

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir
