"""The audit log: every change, who made it, when, and its target before and after."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.services.db import AuditRow
from fleetyard.services.identity import Principal
from fleetyard.services.wire import AuditEntry

__all__ = ["entries", "record"]

MAX_LIMIT = 10_000


def record(session: Session, actor: Principal, action: str, target: str, *,
           before: object | None = None, after: object | None = None, at: datetime | None = None) -> None:
    """Add an entry to the session (committed with the change it describes)."""
    session.add(AuditRow(at=at or datetime.now(UTC), actor=actor.actor, action=action, target=target[:512],
                         before=before, after=after))


def entries(session: Session, limit: int = 100, *, action: str | None = None) -> list[AuditEntry]:
    """The newest entries first (at most `limit`, capped at 10,000)."""
    q = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, MAX_LIMIT)))
    if action:
        q = q.where(AuditRow.action == action)
    return [AuditEntry(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target,
                       before=r.before, after=r.after) for r in session.scalars(q)]
