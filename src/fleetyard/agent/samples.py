"""One telemetry `Sample` per heartbeat (issue 12; docs/telemetry-agent.md).

A sample holds, under the series keys of services/wire_telemetry.py:

- GPU: `gpu_power_w`, `gpu_utilization`, `gpu_temperature_c`, `gpu_memory_used_bytes`,
  `gpus` from nvidia-smi or DCGM (agent/telemetry.py). Without a reading, power,
  utilization and GPU count are estimated from the desired state and listed in
  `estimated` (temperature and memory are left out: there is no honest guess):
      gpus          = sum over workloads of replicas x gpus_per_replica
      gpu_power_w   = sum of GPUs x the SKU's TDP x UTILIZATION (its type)
      gpu_utilization = 100 x the GPU-weighted mean of UTILIZATION
  UTILIZATION is the CostModel's default assumption (spec/costmodel_spec.py): 0.5 for
  inference (replicas sized for peak demand), 0.85 for batch, fine-tune and training.
  A SKU whose TDP is unknown counts GPUs but no power.
- `it_kw`: the GPU power (measured or estimated) x SERVER_POWER_FACTOR (1.8, the
  server around the GPUs, spec/catalog.py) / 1000. No site has an IT meter the agent
  reads, so `it_kw` is always listed in `estimated`.
- `replicas_running/<w>`, `replicas_healthy/<w>`: the report's replica counts.
- `requests_per_s/<w>`, `error_ratio/<w>`, `latency_p50_s/<w>`, `latency_p99_s/<w>`:
  for workloads with a `metrics` block, once two scrapes exist (agent/workload_metrics.py).
- `fetched_bytes/origin`, `fetched_bytes/peer`: bytes fetched since the agent's state
  began (a counter, kept across restarts in state/transfers.json), from the center
  and from peer sites' relays.
- `sync_lag_s`: see `SyncLag`.

A sample holds at most MAX_KEYS_PER_SAMPLE keys: the site-wide ones first, then the
workloads in the report's order; workloads beyond the bound are left out of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fleetyard.agent.telemetry import GpuReading
from fleetyard.agent.workload_metrics import RequestStats
from fleetyard.services.wire import DesiredState, SiteReport
from fleetyard.services.wire_telemetry import MAX_KEYS_PER_SAMPLE, Sample, series_key
from fleetyard.spec.catalog import CATALOG, SERVER_POWER_FACTOR
from fleetyard.spec.costmodel_spec import UtilizationSpec

__all__ = ["UTILIZATION_INFERENCE", "UTILIZATION_JOBS", "SyncLag", "build_sample", "estimate_gpus",
           "fetched_sources"]

_DEFAULTS = UtilizationSpec()
UTILIZATION_INFERENCE = _DEFAULTS.inference
UTILIZATION_JOBS = _DEFAULTS.jobs
CENTER = "center"  # the tracker's name for bytes from the control plane's registry


class SyncLag:
    """Seconds since the site first saw a desired revision it has not fully applied; 0 in sync.

    A revision is fully applied when every model version it lists is `active` at the site
    (verified and materialized; its workloads may run it). While the site is behind, a newer
    revision does not restart the count: the lag is measured from the oldest revision not yet
    applied. Models the server could not list (not in the registry) are not counted.
    """

    def __init__(self) -> None:
        self._since: float | None = None

    def update(self, desired: DesiredState | None, report: SiteReport, now: float) -> float:
        """The lag at `now` (monotonic seconds), given the desired state and the report's models."""
        if desired is None:
            return 0.0
        states = {m.ref: m.state for m in report.models}
        applied = all(states.get(m.ref) == "active" for m in desired.models)
        if applied:
            self._since = None
            return 0.0
        if self._since is None:
            self._since = now
        return max(now - self._since, 0.0)


def _utilization(kind: str | None) -> float:
    return UTILIZATION_INFERENCE if kind in (None, "inference") else UTILIZATION_JOBS


def estimate_gpus(desired: DesiredState | None) -> GpuReading:
    """GPUs, power and utilization the desired workloads imply (see the module docstring)."""
    gpus, power, weighted = 0, 0.0, 0.0
    for w in desired.workloads if desired else []:
        n = w.replicas * w.gpus_per_replica
        u = _utilization(w.type)
        tdp = w.tdp_w if w.tdp_w is not None else (m.tdp_w if (m := CATALOG.get(w.gpu_sku)) else None)
        gpus += n
        weighted += n * u
        if tdp is not None:
            power += n * tdp * u
    if gpus == 0:
        return GpuReading(power_w=0.0, utilization=0.0, gpus=0)
    return GpuReading(power_w=round(power, 2), utilization=round(100.0 * weighted / gpus, 2), gpus=gpus)


def fetched_sources(by_source: Mapping[str, int]) -> dict[str, float]:
    """Tracker bytes by source name ("center" or a peer site) as `fetched_bytes` labels."""
    out = {"origin": 0.0, "peer": 0.0}
    for name, n in by_source.items():
        out["origin" if name == CENTER else "peer"] += float(n)
    return out


def build_sample(t: datetime, report: SiteReport, desired: DesiredState | None, gpu: GpuReading, *,
                 requests: Mapping[str, RequestStats], fetched: Mapping[str, int], sync_lag_s: float) -> Sample:
    """The sample of one heartbeat (see the module docstring)."""
    values: dict[str, float] = {}
    estimated: list[str] = []
    reading = gpu
    if gpu.empty:
        reading = estimate_gpus(desired)
        estimated += ["gpu_power_w", "gpu_utilization", "gpus"]
    for key, v in (("gpu_power_w", reading.power_w), ("gpu_utilization", reading.utilization),
                   ("gpu_temperature_c", reading.temperature_c),
                   ("gpu_memory_used_bytes", reading.memory_used_bytes),
                   ("gpus", float(reading.gpus) if reading.gpus is not None else None)):
        if v is not None:
            values[key] = float(v)
    if reading.power_w is not None:
        values["it_kw"] = round(reading.power_w * SERVER_POWER_FACTOR / 1000.0, 4)
        estimated.append("it_kw")
    values["sync_lag_s"] = round(sync_lag_s, 3)
    for source, n in fetched_sources(fetched).items():
        values[series_key("fetched_bytes", source)] = n
    for w in report.workloads:
        values[series_key("replicas_running", w.name)] = float(w.replicas.running)
        values[series_key("replicas_healthy", w.name)] = float(w.replicas.healthy)
        s = requests.get(w.name)
        if s is None:
            continue
        for name, v in (("requests_per_s", s.requests_per_s), ("error_ratio", s.error_ratio),
                        ("latency_p50_s", s.latency_p50_s), ("latency_p99_s", s.latency_p99_s)):
            if v is not None:
                values[series_key(name, w.name)] = float(v)
    if len(values) > MAX_KEYS_PER_SAMPLE:
        values = dict(list(values.items())[:MAX_KEYS_PER_SAMPLE])
    return Sample(t=t, values=values, estimated=[k for k in estimated if k in values])
