"""The stored rollouts, read side: each workload's latest rollout, and which version a site runs.

`services/desired.py` asks `assignment(...)` for every workload on a site; the
controller (services/rollouts.py) writes the rollouts. A `RolloutRow.document` is the
machine's document (rollout/machine.py) plus `spec`: the version the workload's spec
asked for when the rollout was made - the controller starts a new rollout when the
spec asks for another one, and an `undo` pins a version other than the spec's.

A workload without a `rollout` block is *ungated*: all at once, as before rollouts
existed - its sites get the spec's version as soon as it is applied, with no health
spec and nothing kept, and the controller records the change as a rollout that is
done when it starts. A workload with one gets, per site, the version its rollout
says, its health/validate/max_unavailable, and `keep` = the previous version while
it runs the new one. A site whose wave has not come yet gets the new version among its
`models` while the rollout progresses, so the agent fetches it ahead (it runs it only
when its wave switches): a wave's switch then waits for no transfer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetyard.registry import Store
from fleetyard.rollout import ACTIVE, Rollout, Version, site_version
from fleetyard.services.db import RolloutRow
from fleetyard.services.planning import resolve_model
from fleetyard.spec import Workload

__all__ = ["Assignment", "Stored", "assignment", "gated", "latest_rollouts", "resolved_ref", "spec_version"]


@dataclass(frozen=True)
class Stored:
    """A rollout row, its machine state, and the spec version it was made for."""

    row: RolloutRow
    rollout: Rollout
    spec: Version


@dataclass(frozen=True)
class Assignment:
    version: Version
    keep: list[str] = field(default_factory=list)  # held for a rollback
    prefetch: list[str] = field(default_factory=list)  # fetched ahead of the site's wave, not run


def gated(w: Workload) -> bool:
    """Whether the workload has a rollout block (else: all at once, no gates, as before)."""
    return "rollout" in w.spec.model_fields_set


def spec_version(w: Workload, ref: str) -> Version:
    return Version(ref, tuple(w.spec.command) if w.spec.command is not None else None,
                   tuple(sorted(w.spec.env.items())))


def resolved_ref(models: Mapping[str, Any], requested: str, store: Store | None) -> str | None:
    """The name:version a requested reference resolved to at plan time (else now, with `store`)."""
    ref = models.get(requested)
    if isinstance(ref, str):
        return ref
    return resolve_model(store, requested) if store is not None else None


def load(row: RolloutRow) -> Stored:
    doc = row.document
    r = Rollout.from_document(doc)
    return Stored(row, r, Version.from_document(doc["spec"]) if doc.get("spec") else r.to)


def latest_rollouts(session: Session, workload: str | None = None) -> dict[str, Stored]:
    """The newest rollout of every workload (or of one)."""
    newest = select(func.max(RolloutRow.id)).group_by(RolloutRow.workload)
    if workload is not None:
        newest = newest.where(RolloutRow.workload == workload)
    rows = session.scalars(select(RolloutRow).where(RolloutRow.id.in_(newest)))
    return {r.workload: load(r) for r in rows}


def assignment(w: Workload, site: str, ref: str | None, stored: Stored | None) -> Assignment:
    """The version of `w` that `site` runs now, and the versions it keeps for a rollback."""
    current = spec_version(w, ref or w.spec.model)
    if stored is None or (not gated(w) and ref is not None and stored.spec != current):
        return Assignment(current)
    r = stored.rollout
    side = site_version(r, site)
    version = r.to if side == "to" or r.from_ is None else r.from_
    keep = [r.from_.model] if (gated(w) and side == "to" and r.from_ is not None
                               and r.from_.model != version.model) else []
    ahead = [r.to.model] if (gated(w) and side == "from" and r.state in ACTIVE
                             and r.to.model != version.model) else []
    return Assignment(version, keep, ahead)
