"""Explain and what-if against the stored fleet and its current plan (the dashboard's Plan page).

Both read only: they load the stored fleet, place it again starting from the running plan
(so the placement is the plan the sites run: a re-plan with no change keeps what runs),
and answer from that placement - `explain` with every site's verdict for one workload
(placement/planner.py `explain_workload`, as `fleetyard explain`), `what_if` with the
failover of the named sites (placement/resilience.py `failover`, as `fleetyard whatif`).
Nothing is written: no plan revision, no event, no audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from fleetyard.placement import Planner, PlanOptions, failover
from fleetyard.placement.explain import WorkloadExplanation
from fleetyard.placement.planner import explain_workload
from fleetyard.placement.resilience import Move, moves
from fleetyard.placement.result import Placement
from fleetyard.services.availability import planned_down
from fleetyard.services.errors import InvalidRequest, NotFound
from fleetyard.services.planning import PlanSettings, current_plan, parse_plan
from fleetyard.services.showback import stored_fleet
from fleetyard.spec.inventory import AttestedPool, cut_fleet
from fleetyard.spec.plan import Unplaced

__all__ = ["WhatIf", "explain", "what_if"]


@dataclass(frozen=True)
class WhatIf:
    """What happens if `failed` go dark: what moves, the cost before and after, what is lost."""

    failed: tuple[str, ...]
    absorbable: bool
    moves: tuple[Move, ...]
    cost_before: float
    cost_after: float
    unplaced: tuple[Unplaced, ...]


def _placed(session: Session, settings: PlanSettings) -> tuple[Planner, Placement]:
    row = current_plan(session)
    if row is None:
        raise NotFound("no plan yet: apply a fleet first (fleetyard apply -f DIR)")
    plan = parse_plan(row.plan)
    fleet = cut_fleet(stored_fleet(session), [AttestedPool(c.site, c.gpu_sku, c.declared, c.found)
                                             for c in plan.attested])  # issue 14: as it was planned
    gone = [s for s in planned_down(session) if s in fleet.sites]
    planner = Planner(fleet.without_sites(gone) if gone else fleet)
    options = settings.options(plan)
    return planner, planner.place(replace(options, resilience=False))


def explain(session: Session, settings: PlanSettings, workload: str) -> WorkloadExplanation:
    """Every site's verdict for `workload` in the current plan (NotFound for an unknown one)."""
    planner, placement = _placed(session, settings)
    if workload not in planner.by_name:
        if workload in planner.deferred:
            raise InvalidRequest(f"workload {workload!r} has a schedule: it is placed in time by the schedule "
                                 "(fleetyard schedule), not by the plan")
        known = ", ".join(sorted(planner.by_name)) or "none"
        raise NotFound(f"no workload {workload!r} in the plan; workloads: {known}")
    return explain_workload(planner, placement, workload)


def what_if(session: Session, settings: PlanSettings, failed: list[str]) -> WhatIf:
    """The failover of `failed` sites from the current plan, computed and not stored."""
    names = list(dict.fromkeys(s for s in failed if s))
    if not names:
        raise InvalidRequest("name at least one site that fails")
    planner, placement = _placed(session, settings)
    unknown = [s for s in names if s not in planner.compiled.site_index]
    if unknown:
        raise NotFound(f"no site {unknown[0]!r} in the plan; sites: {', '.join(planner.compiled.site_names)}")
    result = failover(planner, placement, names, exact=True)
    quiet = PlanOptions(resilience=False, explain=False)
    before = planner.to_plan(placement, quiet).totals.cost_per_hour
    after = planner.to_plan(result.after, quiet, down=names).totals.cost_per_hour
    diff = moves(planner, placement, planner, result.after, result.affected)
    return WhatIf(tuple(names), result.absorbable, tuple(diff), before, after, tuple(result.unplaced))
