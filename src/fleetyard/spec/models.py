"""The resources of format v1 (the contract in DESIGN.md) as frozen pydantic models.

Field names and meanings are the contract: extend, never rename. Every default that
the planner relies on is written here, next to the field, and in docs/planning.md.
The models check types and ranges (the upper bounds of every quantity are in
`spec.quantities`); rules that relate several fields or several
resources live in `spec.validate`, where a problem can name its exact field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fleetyard.spec.costmodel_spec import CostModelSpec
from fleetyard.spec.flag import FlagSpec
from fleetyard.spec.quantities import (
    MAX_GPUS,
    MAX_GPUS_PER_SERVER,
    MAX_PUE,
    MAX_SITES,
    CarbonIntensity,
    CarbonPrice,
    DataRate,
    Demand,
    EgressPrice,
    EnergyPrice,
    Gbps,
    GpuMemoryGb,
    GpuPrice,
    LatencyMs,
    LatencySloMs,
    PowerKw,
    Premium,
    RpsPerReplica,
    Spend,
    TdpW,
)
from fleetyard.spec.rollout import RolloutSpec
from fleetyard.spec.schedule import ScheduleSpec
from fleetyard.spec.secret import EnvName, SecretKeyRef, SecretSpec
from fleetyard.spec.workload_metrics import WorkloadMetrics

API_VERSION = "fleetyard/v1"

Name = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
ModelRef = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9][A-Za-z0-9._-]*|@[a-z0-9][a-z0-9._-]*)$",
        max_length=200,
    ),
]
SiteType = Literal["small-dc", "colo", "edge", "hyperscaler"]
WorkloadType = Literal["inference", "fine-tune", "training", "batch"]
BurstPermission = Literal["allowed", "never"]

# Facility default when a site omits `power.pue`: the industry average of the
# Uptime Institute surveys 2023-2024 (1.56-1.58).
DEFAULT_PUE = 1.56


class _Frozen(BaseModel):
    # strict: YAML's true/yes never pass as 1 GPU, and 1.5 never as a whole number;
    # no inf/nan: a capacity or a price must be a real number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Metadata(_Frozen):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)


class Location(_Frozen):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class RegionSpec(_Frozen):
    location: Location


FabricType = Literal["none", "ethernet", "roce", "infiniband"]
LinkKind = Literal["nvlink", "infinity-fabric", "pcie"]


class FabricSpec(_Frozen):
    """The scale-out network joining a pool's servers (extension, issue 8).

    `gbps` is the scale-out bandwidth of one server (all its NICs together, e.g. 8 x 400
    Gb/s = 3,200); `domain_servers` how many servers one non-blocking fabric domain holds
    (default: every server of the pool)."""

    type: FabricType
    gbps: Gbps | None = None
    domain_servers: int | None = Field(default=None, ge=1, le=MAX_GPUS)


NO_FABRIC = FabricSpec(type="none")


class GpuPool(_Frozen):
    """`count` GPUs of one SKU at a site. A SKU outside the catalog needs memory and TDP."""

    sku: str = Field(min_length=1)
    count: int = Field(ge=1, le=MAX_GPUS)
    price_per_gpu_hour: GpuPrice = 0.0
    memory_gb: GpuMemoryGb | None = None
    tdp_w: TdpW | None = None
    # Extensions for interconnect (issue 8); see docs/planning.md, "Interconnect for gangs".
    gpus_per_server: int | None = Field(default=None, ge=1, le=MAX_GPUS_PER_SERVER)  # default: the catalog's, 8
    fabric: FabricSpec | None = None  # default: {type: none}
    interconnect: LinkKind | None = None  # link inside a server; default: the catalog's, else pcie

    @property
    def fabric_or_none(self) -> FabricSpec:
        return self.fabric if self.fabric is not None else NO_FABRIC


class Power(_Frozen):
    it_capacity_kw: PowerKw
    pue: float = Field(default=DEFAULT_PUE, ge=1.0, le=MAX_PUE)


TracePath = Annotated[str, StringConstraints(pattern=r"^[^\x00]+$", max_length=1024)]


class Energy(_Frozen):
    """The constants are the site's typical values, used by `plan`; a `trace` (extension,
    issue 11; spec/trace.py) gives their values over time to `schedule`, `plan --at` and
    `cost`. A column the trace lacks keeps the constant."""

    price_per_kwh: EnergyPrice
    carbon_g_per_kwh: CarbonIntensity
    trace: TracePath | None = None  # CSV path, relative to the spec file


class Network(_Frozen):
    uplink_gbps: Gbps


SyncWindow = Annotated[
    str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]|24):[0-5][0-9]$")
]


class SiteSpec(_Frozen):
    type: SiteType
    country: Country
    location: Location
    gpus: list[GpuPool] = Field(min_length=1)
    power: Power
    cooling_kw: PowerKw | None = None  # default: equal to power.it_capacity_kw
    energy: Energy
    egress_price_per_gb: EgressPrice = 0.0
    network: Network | None = None
    latency_ms: dict[str, LatencyMs] = Field(default_factory=dict)
    # Extensions for replication (issue 4): when the site may download models, in its
    # own time zone; an empty list means at any time. "22:00-02:00" wraps midnight.
    sync_windows: list[SyncWindow] = Field(default_factory=list)
    timezone: str = "UTC"  # IANA name, e.g. Europe/Berlin

    @property
    def cooling_capacity_kw(self) -> float:
        return self.cooling_kw if self.cooling_kw is not None else self.power.it_capacity_kw


class ReplicaShape(_Frozen):
    gpus: int = Field(default=1, ge=1, le=MAX_GPUS)
    gpu_memory_gb: GpuMemoryGb | None = None
    gpu_skus: list[str] | None = Field(default=None, min_length=1)
    power_kw: PowerKw | None = None  # default: gpus x TDP x SERVER_POWER_FACTOR


class Replicas(_Frozen):
    min: int = Field(default=1, ge=0, le=MAX_GPUS)
    max: int | None = Field(default=None, ge=1, le=MAX_GPUS)


class Spread(_Frozen):
    min_sites: int = Field(default=1, ge=1, le=MAX_SITES)
    max_sites: int | None = Field(default=None, ge=1, le=MAX_SITES)


class Interconnect(_Frozen):
    """What a workload needs between its GPUs (extension, issue 8).

    `within_server`: a replica must fit one server whose GPUs have this link (`gpu-link`:
    NVLink or Infinity Fabric); `any` lets replicas span servers. `between_servers`: the
    fabric that must join the servers when the replica (or one-site gang) needs more than
    one: `rdma` is roce or infiniband, `ethernet` any fabric, `none` forbids spanning
    servers, `any` asks nothing. `min_gbps`: scale-out Gb/s per server."""

    within_server: Literal["any", "gpu-link", "nvlink", "infinity-fabric"] = "any"
    between_servers: Literal["any", "none", "ethernet", "rdma", "roce", "infiniband"] = "any"
    min_gbps: Gbps | None = None


class DataSource(_Frozen):
    site: Name
    gb_per_hour: DataRate


class WorkloadSpec(_Frozen):
    type: WorkloadType
    model: ModelRef
    priority: int = Field(default=0, ge=0, le=1000)
    replica: ReplicaShape = Field(default_factory=ReplicaShape)
    replicas: Replicas = Field(default_factory=Replicas)
    demand: dict[str, Demand] = Field(default_factory=dict)
    rps_per_replica: RpsPerReplica | None = None
    latency_slo_ms: LatencySloMs | None = None
    spread: Spread | None = None
    data: list[DataSource] = Field(default_factory=list)
    interconnect: Interconnect | None = None  # extension (issue 8): none means no need
    # Extensions for the site agent's process runtime (issue 4): the argv started once
    # per replica, with the model folder in FLEETYARD_MODEL_DIR, plus extra environment.
    command: list[str] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    # Extension (issue 14; spec/secret.py, docs/secrets.md): environment variables whose values
    # come from a Secret, e.g. {OPENAI_API_KEY: {secret: openai, key: token}}; never the value itself.
    secret_env: dict[EnvName, SecretKeyRef] = Field(default_factory=dict)
    # Extension (issue 8): `never` keeps the workload off burst sites (the Objective's
    # burst.burst_site_types, hyperscaler by default) whatever they cost.
    burst: BurstPermission = "allowed"
    # Extension (issue 10): how a new version reaches the sites (spec/rollout.py);
    # omitted, all at once as before.
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    # Extension (issue 11): deferrable work with a time window (spec/schedule.py); such a
    # workload is scheduled in time slots by `fleetyard schedule`, not placed by `plan`.
    schedule: ScheduleSpec | None = None
    # Extension (issue 12): where its replicas serve Prometheus text, for the request rate,
    # error ratio and latency in the telemetry (spec/workload_metrics.py); omitted, none.
    metrics: WorkloadMetrics | None = None

    @property
    def is_deferrable(self) -> bool:
        return self.schedule is not None

    @property
    def is_job(self) -> bool:
        return self.type != "inference"

    @property
    def min_sites(self) -> int:
        return self.spread.min_sites if self.spread else 1

    @property
    def max_sites(self) -> int | None:
        """Fine-tune and training jobs are gangs: one site unless spread says otherwise."""
        if self.spread and self.spread.max_sites is not None:
            return self.spread.max_sites
        if self.type in ("fine-tune", "training") and (self.spread is None or self.spread.min_sites <= 1):
            return 1
        return None

    @property
    def is_gang(self) -> bool:
        """Gang jobs run all replicas on one SKU, and by default on one site."""
        return self.type in ("fine-tune", "training")


class PolicyRule(_Frozen):
    countries: list[Country] | None = None
    site_types: list[SiteType] | None = None
    sites: list[Name] | None = None


class PolicySpec(_Frozen):
    selector: dict[str, str] = Field(default_factory=dict)
    allowed: PolicyRule = Field(default_factory=PolicyRule)
    denied: PolicyRule = Field(default_factory=PolicyRule)


# Preference premium per GPU-hour and rank step when `burst.prefer` is given (docs/planning.md).
DEFAULT_PREFERENCE_PREMIUM = 0.50


def _default_burst_types() -> list[SiteType]:
    return ["hyperscaler"]


class BurstSpec(_Frozen):
    """Extension (issue 8): bursting to rented capacity as a stated policy, not a side effect of cost.

    `prefer` orders site types (types not listed rank after all listed ones); the optimizer
    charges rank x `premium_per_gpu_hour` per GPU-hour on top of the real cost, so a
    less preferred type wins only when it is cheaper by more than the premium. The
    premium steers the plan and is reported apart; it is never part of the plan's cost.
    Caps bound the real hourly cost of work on `burst_site_types` sites, fleet-wide
    and per value of the workload label `team`."""

    prefer: list[SiteType] = Field(default_factory=list)
    burst_site_types: list[SiteType] = Field(default_factory=_default_burst_types, min_length=1)
    max_spend_per_hour: Spend | None = None
    per_team: dict[str, Spend] = Field(default_factory=dict)
    premium_per_gpu_hour: Premium = DEFAULT_PREFERENCE_PREMIUM

    @property
    def has_caps(self) -> bool:
        return self.max_spend_per_hour is not None or bool(self.per_team)


class ObjectiveSpec(_Frozen):
    carbon_price_per_tonne: CarbonPrice = 0.0
    resilience: Literal["none", "n-1"] = "none"
    # Extension: how n-1 protects inference. cold (default) keeps free capacity where
    # lost replicas can restart; hot keeps enough running replicas that the survivors
    # carry the load at once (costs more, no restart). Jobs are always cold.
    standby: Literal["cold", "hot"] = "cold"
    # Extension (issue 8): preference order of site types and caps on burst spend.
    burst: BurstSpec | None = None


class _Resource(_Frozen):
    apiVersion: Literal["fleetyard/v1"]
    metadata: Metadata

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels


class Region(_Resource):
    kind: Literal["Region"]
    spec: RegionSpec


class Site(_Resource):
    kind: Literal["Site"]
    spec: SiteSpec


class Workload(_Resource):
    kind: Literal["Workload"]
    spec: WorkloadSpec


class Policy(_Resource):
    kind: Literal["Policy"]
    spec: PolicySpec

    def matches(self, workload: Workload) -> bool:
        labels = workload.labels
        return all(labels.get(k) == v for k, v in self.spec.selector.items())


class Objective(_Resource):
    kind: Literal["Objective"]
    spec: ObjectiveSpec = Field(default_factory=ObjectiveSpec)


class Flag(_Resource):
    """A feature flag served at every site over OFREP (issue 10; spec/flag.py, docs/flags.md)."""

    kind: Literal["Flag"]
    spec: FlagSpec


class CostModel(_Resource):
    """The inputs of `fleetyard tco` (issue 11; spec/costmodel_spec.py, docs/tco.md); at most one."""

    kind: Literal["CostModel"]
    spec: CostModelSpec = Field(default_factory=CostModelSpec)


class Secret(_Resource):
    """Values a workload gets in its environment (issue 14; spec/secret.py, docs/secrets.md):
    stored encrypted by the server, delivered only to the sites that run a workload using it."""

    kind: Literal["Secret"]
    spec: SecretSpec


Resource = Region | Site | Workload | Policy | Objective | Flag | CostModel | Secret
KINDS: dict[str, type[_Resource]] = {
    "Region": Region,
    "Site": Site,
    "Workload": Workload,
    "Policy": Policy,
    "Objective": Objective,
    "Flag": Flag,
    "CostModel": CostModel,
    "Secret": Secret,
}
