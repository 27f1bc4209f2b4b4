"""`Fleet`: every resource of one specification, indexed by name, with its origin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from fleetyard.spec.catalog import (
    CATALOG,
    DEFAULT_GPUS_PER_SERVER,
    PCIE_LINK,
    SERVER_POWER_FACTOR,
    GpuModel,
    Link,
)
from fleetyard.spec.costmodel_spec import CostModelSpec
from fleetyard.spec.models import (
    CostModel,
    Flag,
    GpuPool,
    Metadata,
    Objective,
    ObjectiveSpec,
    Policy,
    Region,
    Secret,
    Site,
    Workload,
)
from fleetyard.spec.trace import Trace
from fleetyard.spec.yamlsource import Document, Loc

DEFAULT_OBJECTIVE = Objective(
    apiVersion="fleetyard/v1", kind="Objective", metadata=Metadata(name="default"), spec=ObjectiveSpec()
)
DEFAULT_COST_MODEL = CostModel(
    apiVersion="fleetyard/v1", kind="CostModel", metadata=Metadata(name="default"), spec=CostModelSpec()
)


@dataclass(frozen=True)
class Origin:
    """Where a resource was written: its YAML document (file, lines of every field)."""

    document: Document

    @property
    def file(self) -> str:
        return self.document.file

    def line_of(self, loc: Loc = ()) -> int:
        return self.document.line_of(loc)


@dataclass(frozen=True)
class Fleet:
    """The whole specification. Mappings keep the input order (deterministic plans)."""

    regions: Mapping[str, Region]
    sites: Mapping[str, Site]
    workloads: Mapping[str, Workload]
    policies: Mapping[str, Policy] = field(default_factory=dict)
    objective: Objective = DEFAULT_OBJECTIVE
    origins: Mapping[tuple[str, str], Origin] = field(default_factory=dict, compare=False)
    flags: Mapping[str, Flag] = field(default_factory=dict)  # issue 10: served at the sites, never planned
    # issue 11: each Site's energy trace (spec/trace.py), by site name; sites without one are absent
    traces: Mapping[str, Trace] = field(default_factory=dict, compare=False)
    # issue 11: the inputs of `fleetyard tco` (spec/costmodel_spec.py); every default without one
    cost_model: CostModel = DEFAULT_COST_MODEL
    # issue 14: values for workloads' `secret_env` (spec/secret.py); never planned
    secrets: Mapping[str, Secret] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        resources: Iterable[Region | Site | Workload | Policy | Objective | Flag | CostModel | Secret],
    ) -> Fleet:
        """Build a fleet from resources (used by tests and the benchmark generator)."""
        regions: dict[str, Region] = {}
        sites: dict[str, Site] = {}
        workloads: dict[str, Workload] = {}
        policies: dict[str, Policy] = {}
        flags: dict[str, Flag] = {}
        secrets: dict[str, Secret] = {}
        objective = DEFAULT_OBJECTIVE
        cost_model = DEFAULT_COST_MODEL
        for r in resources:
            if isinstance(r, Region):
                regions[r.name] = r
            elif isinstance(r, Site):
                sites[r.name] = r
            elif isinstance(r, Workload):
                workloads[r.name] = r
            elif isinstance(r, Policy):
                policies[r.name] = r
            elif isinstance(r, Flag):
                flags[r.name] = r
            elif isinstance(r, CostModel):
                cost_model = r
            elif isinstance(r, Secret):
                secrets[r.name] = r
            else:
                objective = r
        return cls(regions, sites, workloads, policies, objective, flags=flags, cost_model=cost_model,
                   secrets=secrets)

    def origin(self, kind: str, name: str) -> Origin | None:
        return self.origins.get((kind, name))

    def gpu_model(self, pool: GpuPool) -> GpuModel:
        """The SKU's figures: the pool's own memory/TDP, link and server size override the catalog."""
        base = CATALOG.get(pool.sku)
        memory = pool.memory_gb if pool.memory_gb is not None else (base.memory_gb if base else 0.0)
        tdp = pool.tdp_w if pool.tdp_w is not None else (base.tdp_w if base else 0.0)
        link = base.interconnect if base else PCIE_LINK
        if pool.interconnect is not None and pool.interconnect != link.kind:
            link = Link(pool.interconnect, pool.interconnect)
        per_server = pool.gpus_per_server or (base.gpus_per_server if base else DEFAULT_GPUS_PER_SERVER)
        return GpuModel(pool.sku, memory, tdp, base.vendor if base else "custom", link, per_server)

    def replica_power_kw(self, workload: Workload, pool: GpuPool) -> float:
        """IT power of one replica on this pool: the workload's figure, else GPUs x TDP x 1.8."""
        shape = workload.spec.replica
        if shape.power_kw is not None:
            return shape.power_kw
        return shape.gpus * self.gpu_model(pool).tdp_w * SERVER_POWER_FACTOR / 1000.0

    def known_skus(self) -> set[str]:
        return set(CATALOG) | {p.sku for s in self.sites.values() for p in s.spec.gpus}

    def always_on(self) -> Fleet:
        """The fleet without its deferrable workloads (those with a `schedule`): what `plan` places."""
        if not any(w.spec.is_deferrable for w in self.workloads.values()):
            return self
        return replace(self, workloads={n: w for n, w in self.workloads.items() if not w.spec.is_deferrable})

    def deferred(self) -> list[Workload]:
        """The deferrable workloads, in input order: what `fleetyard schedule` places in time."""
        return [w for w in self.workloads.values() if w.spec.is_deferrable]

    def without_sites(self, names: Iterable[str]) -> Fleet:
        gone = set(names)
        return replace(self, sites={n: s for n, s in self.sites.items() if n not in gone})

    def policies_for(self, workload: Workload) -> list[Policy]:
        return [p for p in self.policies.values() if p.matches(workload)]
