"""Planning for the server: run the optimizer, resolve model references, diff plans.

The plan is the planner's own (`fleetyard plan --format json`); the server adds a
revision and the registry resolution of every workload's model reference at the
time of planning (`name@alias` → `name:version`; None when the registry lacks it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.placement import OptimizerOptions, Planner, PlanOptions
from fleetyard.placement.movecost import running_from_assignments
from fleetyard.registry import RegistryError, Store, parse_ref
from fleetyard.services.db import FleetStateRow, PlanRevisionRow
from fleetyard.services.errors import NotFound
from fleetyard.services.wire import PlanChange, PlanOut, ResourceChange
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import Plan

__all__ = [
    "PlanSettings",
    "current_plan",
    "current_revision",
    "make_plan",
    "plan_changes",
    "plan_out",
    "resolve_model",
    "resolve_models",
]


@dataclass(frozen=True)
class PlanSettings:
    """How the server plans: the same optimizer as `fleetyard plan`, with a time limit."""

    time_limit: float = 60.0
    mip_gap: float = 0.002
    resilience: bool = True

    def options(self, current: Plan | None = None, changes: Sequence[ResourceChange] = (),
                down: Collection[str] = (), back: Collection[str] = ()) -> PlanOptions:
        running = running_from_assignments(current.assignments) if current is not None else None
        edited = [c for c in changes if c.action != "unchanged"]
        # An Objective or Region edit changes prices or latencies fleet-wide: re-plan all of it.
        # Workload and Site edits re-plan their neighbourhood (placement/incremental.py).
        full = any(c.kind in ("Objective", "Region") for c in edited)
        # Work that ran on a site now down must be placed again; a site back is a changed site.
        displaced = {a.workload for a in current.assignments if a.site in down} if current is not None else set()
        return PlanOptions(optimizer=OptimizerOptions(time_limit=self.time_limit, mip_gap=self.mip_gap),
                           resilience=self.resilience, current=running,
                           changed=frozenset(c.name for c in edited if c.kind == "Workload") | displaced,
                           changed_sites=frozenset(c.name for c in edited if c.kind == "Site") | frozenset(back),
                           replan="full" if full else "auto")


def make_plan(fleet: Fleet, settings: PlanSettings, current: Plan | None = None,
              changes: Sequence[ResourceChange] = (), *, down: Collection[str] = (),
              back: Collection[str] = ()) -> Plan:
    """Plan the fleet; with the `current` (running) plan, a re-plan that moves work only
    when the move pays for itself (placement/movecost.py), re-solving only the
    neighbourhood of the `changes` when they are small (placement/incremental.py).

    `down`: sites that are unavailable (services/failover.py): they offer no capacity,
    and the work that ran there is placed again elsewhere under every policy; `back`:
    sites available again, whose neighbourhood is re-solved (work may move back)."""
    gone = [s for s in down if s in fleet.sites]
    planned = fleet.without_sites(gone) if gone else fleet
    return Planner(planned).plan(settings.options(current, changes, gone, [s for s in back if s in fleet.sites]))


def resolve_model(store: Store, requested: str) -> str | None:
    """`name:version` if the registry holds it (aliases followed), else None."""
    try:
        ref = parse_ref(requested)
        if ref.version is not None:
            return f"{ref.name}:{ref.version}" if store.has_version(ref.name, ref.version) else None
        assert ref.alias is not None
        return f"{ref.name}:{store.alias(ref.name, ref.alias)}"
    except RegistryError:
        return None


def resolve_models(fleet: Fleet, store: Store) -> dict[str, str | None]:
    """Every workload's model reference, resolved against the registry now."""
    refs = sorted({w.spec.model for w in fleet.workloads.values()})
    return {r: resolve_model(store, r) for r in refs}


def _table(plan: Plan | None) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for a in plan.assignments if plan else ():
        key = (a.workload, a.site, a.gpu_sku)
        out[key] = out.get(key, 0) + a.replicas
    return out


def plan_changes(before: Plan | None, after: Plan | None, edited: set[str] | None = None) -> list[PlanChange]:
    """Replicas per (workload, site, SKU) that differ between two plans, each with why."""
    old, new = _table(before), _table(after)
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k, 0) != new.get(k, 0)]
    total_old: dict[str, int] = {}
    total_new: dict[str, int] = {}
    for (w, _s, _k), n in old.items():
        total_old[w] = total_old.get(w, 0) + n
    for (w, _s, _k), n in new.items():
        total_new[w] = total_new.get(w, 0) + n
    edited = edited or set()

    def why(w: str) -> str:
        a, b = total_old.get(w, 0), total_new.get(w, 0)
        spec = " (its spec changed)" if w in edited else ""
        if a == 0:
            return f"new placement: {b} replica(s){spec}"
        if b == 0:
            return f"no longer placed{spec}"
        if b > a:
            return f"scaled up from {a} to {b} replicas{spec}"
        if b < a:
            return f"scaled down from {a} to {b} replicas{spec}"
        return ("moved: same replicas elsewhere, because the move saves more than its move cost "
                "or makes room for other work (docs/planning.md)" + spec)

    return [PlanChange(workload=k[0], site=k[1], gpu_sku=k[2], before=old.get(k, 0), after=new.get(k, 0),
                       reason=why(k[0])) for k in keys]


def current_revision(session: Session) -> int:
    state = session.get(FleetStateRow, 1)
    return state.revision if state is not None else 0


def current_plan(session: Session) -> PlanRevisionRow | None:
    """The plan of the current revision (None before the first apply)."""
    revision = current_revision(session)
    if revision == 0:
        return None
    return session.scalar(select(PlanRevisionRow).where(PlanRevisionRow.revision == revision))


def parse_plan(doc: dict[str, Any]) -> Plan:
    return Plan.model_validate(doc)


def plan_out(session: Session) -> PlanOut:
    row = current_plan(session)
    if row is None:
        raise NotFound("no plan yet: apply a fleet first (fleetyard apply -f DIR)")
    return PlanOut(**row.plan, revision=row.revision, created_at=row.created_at, models=row.models)
