"""Wire schemas shared by the control plane server and the site agents (API v1).

These models are the contract of docs/api.md: the server's routes produce and accept
them, the agent and the CLI parse them. Extend, never rename.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire_attest import FoundGpuOut as FoundGpuOut
from fleetyard.services.wire_attest import GpuCountDrift as GpuCountDrift
from fleetyard.services.wire_attest import Inventory as Inventory
from fleetyard.services.wire_attest import InventorySource as InventorySource
from fleetyard.services.wire_attest import InventoryStatus as InventoryStatus

# The base types and the issue-11 models live apart; clients import every wire model from here.
from fleetyard.services.wire_base import Bytes as Bytes
from fleetyard.services.wire_base import Count as Count
from fleetyard.services.wire_base import Long as Long
from fleetyard.services.wire_base import ModelState as ModelState
from fleetyard.services.wire_base import Name as Name
from fleetyard.services.wire_base import Role as Role
from fleetyard.services.wire_base import Text as Text
from fleetyard.services.wire_base import _In, _Wire
from fleetyard.services.wire_diff import FieldChange as FieldChange
from fleetyard.services.wire_diff import PlanRevisionOut as PlanRevisionOut
from fleetyard.services.wire_diff import ResourceDiff as ResourceDiff
from fleetyard.services.wire_energy import DeferredState as DeferredState
from fleetyard.services.wire_energy import DeferredStatus as DeferredStatus
from fleetyard.services.wire_energy import ScheduleOut as ScheduleOut
from fleetyard.services.wire_energy import UsageOut as UsageOut
from fleetyard.services.wire_telemetry import MAX_SAMPLES_PER_REPORT, Sample
from fleetyard.spec.flag import SiteFlag
from fleetyard.spec.models import WorkloadType
from fleetyard.spec.plan import Plan
from fleetyard.spec.rollout import HealthSpec, ValidateSpec
from fleetyard.spec.workload_metrics import WorkloadMetrics

# --- apply -----------------------------------------------------------------------------

class SpecFile(_In):
    """One uploaded YAML file: its name (used in error messages) and its text."""

    name: Long
    content: Text


class ApplyRequest(_In):
    files: list[SpecFile]
    dry_run: bool = False
    # issue 11: the energy traces the Sites reference (CSV text), each named by its path as
    # `spec.loader.trace_path(file name as uploaded, reference)` resolves it; stored with the fleet
    traces: list[SpecFile] = Field(default_factory=list)


class ProblemOut(_Wire):
    file: str
    line: int | None
    path: str
    message: str
    severity: Literal["error", "warning"]


class ResourceChange(_Wire):
    kind: str
    name: str
    action: Literal["created", "updated", "unchanged", "deleted"]


class PlanChange(_Wire):
    """How one workload's placement changes between two plans."""

    workload: str
    site: str
    gpu_sku: str
    before: int
    after: int
    reason: str = ""  # why it changes: scaled, new, no longer placed, moved


class ApplyResult(_Wire):
    dry_run: bool
    revision: int  # the plan revision after apply (unchanged on dry run)
    changes: list[ResourceChange]
    plan_changes: list[PlanChange]
    cost_per_hour_before: float
    cost_per_hour_after: float
    warnings: list[ProblemOut] = Field(default_factory=list)
    # issue 13: field by field, what the request changes in each resource (`kubectl diff`)
    diff: list[ResourceDiff] = Field(default_factory=list)


# --- resources ---------------------------------------------------------------------------

class SecretKeyOut(_Wire):
    """One key of a stored Secret and a digest of its value (services/secret_box.py), never the value."""

    key: str
    digest: str


class ResourceOut(_Wire):
    kind: str
    name: str
    document: dict[str, object]  # the resource as applied (apiVersion, kind, metadata, spec)
    source: str  # file name it was applied from
    updated_at: datetime
    # issue 14: a Secret's keys and digests; its document's values are "(hidden)"
    secret_keys: list[SecretKeyOut] | None = None


# --- desired state (server -> agent) ------------------------------------------------------

class ChunkSource(_Wire):
    """Where an agent may fetch a model's chunks, in order of preference."""

    kind: Literal["peer", "center"]
    site: str | None = None  # the peer site
    url: str  # base URL serving /api/v1/registry/objects/...
    latency_ms: float | None = None


class DesiredModel(_Wire):
    ref: str  # name:version, aliases resolved by the server
    name: str
    version: str
    requested: str  # what the workload asked for (name:version or name@alias)
    sources: list[ChunkSource]


class SecretEnv(_Wire):
    """An environment variable from a Secret (issue 14; docs/secrets.md): the reference, a digest
    of the value, and the value itself only in the desired state the site's own agent reads."""

    secret: str
    key: str
    digest: str = ""
    value: str | None = Field(default=None, repr=False)


class DesiredWorkload(_Wire):
    name: str
    model: str  # name:version
    replicas: int
    gpu_sku: str
    gpus_per_replica: int
    command: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, SecretEnv] = Field(default_factory=dict)  # issue 14: values from Secrets
    # Rollouts (issue 10; docs/rollouts.md). `model` is the version this site runs now;
    # the agent keeps the old replicas until the new ones pass `health`, runs `validate`
    # on the site before starting the new version, switches at most `max_unavailable`
    # replicas at once, and keeps the model versions in `keep` (the previous version,
    # for a rollback) materialized. Defaults: as before rollouts existed.
    health: HealthSpec | None = None
    validate_: ValidateSpec | None = Field(default=None, alias="validate")
    max_unavailable: int = 1
    keep: list[str] = Field(default_factory=list)
    # Telemetry (issue 12; docs/telemetry-agent.md): where the replicas serve Prometheus text
    # (None: not scraped), and what the agent's power estimate needs without nvidia-smi - the
    # workload's type (inference or a job) and the board power of its SKU at this site.
    metrics: WorkloadMetrics | None = None
    type: WorkloadType | None = None
    tdp_w: float | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class DesiredState(_Wire):
    site: str
    revision: int
    generated_at: datetime
    models: list[DesiredModel]
    workloads: list[DesiredWorkload]
    sync_windows: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    problems: list[str] = Field(default_factory=list)  # e.g. a model missing from the registry
    # Feature flags (issue 10; docs/flags.md): every Flag as this site serves it over OFREP,
    # its site facts decided, and a digest of them (the agent's ETag and persistence key).
    flags: list[SiteFlag] = Field(default_factory=list)
    flags_revision: str = ""
    # issue 14 (docs/attestation.md): the Site's GPUs per SKU, which the agent compares with what it finds
    declared_gpus: dict[str, int] = Field(default_factory=dict)


# --- status (agent -> server) -------------------------------------------------------------

class ModelStatus(_In):
    ref: Text
    state: ModelState
    bytes_fetched: Bytes = 0
    bytes_needed: Bytes | None = None  # what the missing-chunks function said
    bytes_by_source: dict[Text, Bytes] = Field(default_factory=dict)  # "center" or a peer site
    error: Text | None = None


class Replicas(_In):
    desired: Count = 0
    running: Count = 0
    healthy: Count = 0


ValidationState = Literal["none", "running", "passed", "failed"]


class WorkloadHealth(_In):
    """What the agent observed of the version it was told to run (`model`): the gates' inputs."""

    model: Text  # the desired name:version these observations are about
    validation: ValidationState = "none"  # the `validate` command on this site
    validation_message: Text | None = None
    ready: Count = 0  # replicas of `model` passing the probe (or up for a second without one)
    total: Count = 0  # replicas of `model` running
    error_ratio: float | None = Field(default=None, ge=0, le=1)  # from the replicas' /metrics
    p95_ms: float | None = Field(default=None, ge=0, le=1e9)
    last_error: Text | None = None  # e.g. "GET /healthz returned 500", for a person to act on


class WorkloadStatus(_In):
    name: Text
    model: Text
    replicas: Replicas
    error: Text | None = None
    health: WorkloadHealth | None = None  # issue 10: reported for workloads with a rollout health spec
    # issue 11 (showback): the SKU and GPUs per replica the agent was told to run it on, so the
    # server books usage without looking the plan up on every heartbeat (absent: older agents)
    gpu_sku: Name | None = None
    gpus_per_replica: Count | None = None


class Telemetry(_In):
    gpu_power_w: float | None = None  # nvidia-smi power.draw summed over GPUs
    gpu_utilization: float | None = None  # mean %, 0-100
    gpus: Count | None = None


class SiteReport(_In):
    """What an agent sends on every heartbeat."""

    site: Name
    agent_version: Text
    revision: Count | None  # desired-state revision it is working on
    peer_url: Long | None = None  # where it serves its chunks to peers, if it does
    models: list[ModelStatus] = Field(default_factory=list)
    workloads: list[WorkloadStatus] = Field(default_factory=list)
    active: dict[Text, Text] = Field(default_factory=dict)  # model name -> active name:version
    telemetry: Telemetry = Field(default_factory=Telemetry)
    in_sync_window: bool = True
    samples: list[Sample] = Field(default_factory=list, max_length=MAX_SAMPLES_PER_REPORT)  # issue 12, oldest first
    inventory: Inventory | None = None  # issue 14: the GPUs found (services/wire_attest.py)


class SiteStatus(_Wire):
    """One site in `GET /api/v1/status` (and `fleetyard status --format json`)."""

    site: str
    last_heartbeat: datetime | None
    models: list[ModelStatus]
    replicas: Replicas
    bytes_fetched: int = 0
    sync_progress: float | None = None  # 0..1 over the models being synced
    revision: int | None = None
    agent_version: str | None = None
    # extensions: no heartbeat for 3 intervals; what the agent runs; where it relays
    stale: bool = False
    active: dict[str, str] = Field(default_factory=dict)
    peer_url: str | None = None
    workloads: list[WorkloadStatus] = Field(default_factory=list)
    telemetry: Telemetry = Field(default_factory=Telemetry)
    # failover (docs/failover.md): false while its work is elsewhere (unavailable, or returning
    # within the hold-off), with since when and why; drift: what differs from the desired state
    # for longer than FLEETYARD_DRIFT_AFTER
    available: bool = True
    unavailable_since: datetime | None = None
    unavailable_reason: str | None = None
    drift: str | None = None
    inventory: InventoryStatus | None = None  # issue 14: GPUs found against declared (None: never reported)


class FleetStatus(_Wire):
    revision: int
    sites: list[SiteStatus]
    heartbeat_interval_s: float = 5.0  # extension: a site is stale after 3 of these
    deferred: list[DeferredStatus] = Field(default_factory=list)  # issue 11: the schedule of deferred jobs


# --- tokens and audit ---------------------------------------------------------------------

MAX_TTL_HOURS = 100 * 366 * 24  # a century: longer is "never", which is no ttl

class TokenCreate(_In):
    role: Role
    site: Name | None = None  # required for (and only for) agent tokens
    ttl_hours: Annotated[float, Field(gt=0, le=MAX_TTL_HOURS)] | None = None
    description: Text = ""  # the first 200 characters are kept


class TokenOut(_Wire):
    id: str
    role: Role
    site: str | None
    created_at: datetime
    expires_at: datetime | None
    description: str = ""


class TokenCreated(TokenOut):
    token: str  # shown once; only its hash is stored


class WhoAmI(_Wire):
    """The caller as the server sees it (`GET /api/v1/whoami`): agents check scrape tokens with it."""

    id: str
    role: Role
    site: str | None = None


class AuditEntry(_Wire):
    id: int
    at: datetime
    actor: str  # token id and role, e.g. "tok_3f2a (operator)"
    action: str  # apply, delete, token.create, registry.put, ...
    target: str  # kind/name or object key
    before: object | None = None
    after: object | None = None


# --- rollouts (issue 10; docs/rollouts.md) -------------------------------------------------

RolloutState = Literal["progressing", "paused", "succeeded", "rolled_back", "aborted"]
RolloutWaveState = Literal["pending", "progressing", "baking", "succeeded", "failed", "rolled_back"]


class RolloutWaveOut(_Wire):
    index: int
    sites: list[str]
    state: RolloutWaveState
    reason: str | None = None  # why it failed, or what it waits for, in words a person can act on
    why: str = ""  # how its sites were chosen
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RolloutOut(_Wire):
    """One workload's latest rollout (`GET /api/v1/rollouts/{workload}`, `rollout status --format json`)."""

    workload: str
    from_: str | None = Field(default=None, alias="from")  # None: the first version
    to: str
    state: RolloutState
    reason: str | None = None
    waves: list[RolloutWaveOut]
    id: int = 0
    cause: str = "apply"  # apply (a new version in the spec) | undo (pinned by an operator)
    change: str = ""  # e.g. "model chat:1 -> chat:2, env changed"
    gated: bool = True  # False: no rollout block, all at once without gates
    bake_s: float = 0.0
    created_by: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class RolloutAction(_In):
    """Body of `POST /api/v1/rollouts/{workload}/undo` (optional): the version to pin."""

    to: Annotated[str, StringConstraints(pattern=NUL_FREE, min_length=1, max_length=255)] | None = None


# --- extensions (server issue 4) ----------------------------------------------------------

class EventOut(_Wire):
    """Something the system did and why (docs/api.md, Events)."""

    id: int
    at: datetime
    kind: str
    subject: str
    message: str
    data: dict[str, object] | None = None


class ErrorOut(_Wire):
    """Body of every error answer (4xx and 5xx): `detail`, one line that says what is
    wrong, and `problems`, what lies behind it - the spec problems of a fleet that does
    not validate, or one entry per bad request field (`file: "<request>"`, `path` such
    as `body.files[0].name` or `query.limit`); empty when there is nothing more to say."""

    detail: str
    problems: list[ProblemOut] = Field(default_factory=list)


ValidationFailure = ErrorOut  # the name of the 422 body before the shapes became one


class HealthOut(_Wire):
    status: Literal["ok"] = "ok"


class ObjectOut(_Wire):
    """One registry object in `GET /api/v1/registry/objects?prefix=P`."""

    key: str
    size: int
    mtime: float  # seconds since the epoch


class ModelOut(_Wire):
    """One version in the server's registry (`GET /api/v1/models`)."""

    name: str
    version: str
    ref: str  # name:version
    size: int
    files: int
    created: str
    aliases: list[str] = Field(default_factory=list)
    signed: bool = False
    parent: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class PlanOut(Plan):
    """`GET /api/v1/plan`: the plan of `fleetyard plan --format json`, plus its revision,
    when it was made, and how each requested model reference was resolved against the
    registry at that time (None: not in the registry then)."""

    revision: int
    created_at: datetime
    models: dict[str, str | None] = Field(default_factory=dict)
