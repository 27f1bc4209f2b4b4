"""Plan history: every stored plan revision, one of them whole, and the difference of two.

Each apply, delete and failover re-plan stores its plan as a new revision
(`plan_revisions`); the audit log, written in the same transaction with the same time,
says who made it and which resources changed with it. `diff_plans` is the comparison
`fleetyard plan diff` and `plan --detailed-exitcode` share: a change is a (workload,
site, SKU) whose replicas differ - timing and solver fields never count.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetyard.services.db import AuditRow, PlanRevisionRow
from fleetyard.services.errors import InvalidRequest, NotFound
from fleetyard.services.planning import current_revision, plan_changes
from fleetyard.services.wire import PlanChange, PlanOut, PlanRevisionOut
from fleetyard.services.wire_base import _Wire
from fleetyard.spec.plan import Plan

__all__ = ["MAX_LIMIT", "MAX_REVISION", "PlanDiffOut", "diff_plans", "list_revisions", "plan_at"]

MAX_LIMIT = 500  # revisions per page
MAX_REVISION = 2**31 - 1  # an INTEGER column on PostgreSQL


class PlanDiffOut(_Wire):
    """What differs between two plans: each (workload, site, SKU) whose replicas changed,
    with why (`before` 0: added; `after` 0: removed), and both costs."""

    before: str  # "revision 3" or a file name
    after: str
    changes: list[PlanChange]
    cost_per_hour_before: float
    cost_per_hour_after: float

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def diff_plans(before: Plan | None, after: Plan, before_label: str, after_label: str) -> PlanDiffOut:
    """The assignment changes from `before` (None: no plan yet, so everything is added) to `after`."""
    return PlanDiffOut(before=before_label, after=after_label, changes=plan_changes(before, after),
                       cost_per_hour_before=before.totals.cost_per_hour if before else 0.0,
                       cost_per_hour_after=after.totals.cost_per_hour)


def _check_revision(revision: int) -> None:
    if not 1 <= revision <= MAX_REVISION:
        raise InvalidRequest(f"revision: expected a whole number from 1 to {MAX_REVISION}, got {revision}")


def plan_at(session: Session, revision: int) -> PlanOut:
    """The plan stored at `revision`; 404 naming the revisions there are, 422 for one that cannot be."""
    _check_revision(revision)
    row = session.get(PlanRevisionRow, revision)
    if row is None:
        latest = current_revision(session)
        oldest = session.scalar(select(func.min(PlanRevisionRow.revision)))
        there = f"revisions {oldest} to {latest} exist" if oldest is not None else "there is no plan yet"
        raise NotFound(f"no plan revision {revision}: {there} (fleetyard get revisions)")
    return PlanOut(**row.plan, revision=row.revision, created_at=row.created_at, models=row.models)


def list_revisions(session: Session, *, limit: int = 50, offset: int = 0) -> list[PlanRevisionOut]:
    """The newest revisions first, `limit` (1..500) from `offset`, each with who made it
    and which resources changed with it (from the audit entries of its transaction)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit: expected 1 to {MAX_LIMIT}, got {limit}")
    if not 0 <= offset <= MAX_REVISION:
        raise InvalidRequest(f"offset: expected 0 to {MAX_REVISION}, got {offset}")
    rows = list(session.scalars(select(PlanRevisionRow).order_by(PlanRevisionRow.revision.desc())
                                .limit(limit).offset(offset)))
    if not rows:
        return []
    audit: dict[object, list[AuditRow]] = {}
    times = {r.created_at for r in rows}
    for a in session.scalars(select(AuditRow).where(AuditRow.at.in_(times), AuditRow.target != "plan")
                             .order_by(AuditRow.id)):
        audit.setdefault(a.at, []).append(a)
    latest = current_revision(session)
    out = []
    for r in rows:
        entries = [a for a in audit.get(r.created_at, []) if a.actor == r.actor]
        plan = r.plan
        totals = plan.get("totals") or {}
        out.append(PlanRevisionOut(
            revision=r.revision, created_at=r.created_at, actor=r.actor,
            action=entries[0].action if entries else "",
            changed=[a.target for a in entries], cost_per_hour=r.cost_per_hour,
            assignments=len(plan.get("assignments") or []), replicas_placed=int(totals.get("replicas_placed", 0)),
            unplaced=len(plan.get("unplaced") or []), current=r.revision == latest))
    return out
