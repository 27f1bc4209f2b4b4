"""Wire schemas of the diffs (issue 13): what an apply changes field by field, and the
plan history (revisions and the difference between two plans). Re-exported by
services/wire.py, where clients import them from; extend, never rename."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from fleetyard.services.wire_base import _Wire

__all__ = ["FieldChange", "PlanRevisionOut", "ResourceDiff"]


class FieldChange(_Wire):
    """One changed field of a resource: its path (`spec.replicas`, `spec.env[0].value`) and
    the values before and after, shortened for a terminal (secret-looking env values masked);
    None where the field did not exist on that side."""

    path: str
    before: str | None = None
    after: str | None = None


class ResourceDiff(_Wire):
    """How one resource changes in an apply or delete (`kubectl diff`, per resource)."""

    kind: str
    name: str
    action: Literal["created", "updated", "deleted"]
    fields: list[FieldChange] = Field(default_factory=list)  # updated: each changed leaf


class PlanRevisionOut(_Wire):
    """One entry of `GET /api/v1/plan/revisions`: a stored plan, when, by whom, what it holds."""

    revision: int
    created_at: datetime
    actor: str  # who made it, e.g. "tok_3f2a (operator)", or the failover job
    action: str = ""  # apply | delete | replan | "" (not in the audit log)
    changed: list[str] = Field(default_factory=list)  # Kind/name of each resource changed with it
    cost_per_hour: float
    assignments: int = 0
    replicas_placed: int = 0
    unplaced: int = 0
    current: bool = False
