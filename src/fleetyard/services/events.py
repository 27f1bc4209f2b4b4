"""Events: what the system did and why, kept beside the audit log.

The audit log records changes people made (who, what, before, after); events record
what the control plane itself did or saw: a site went dark or came back, a re-plan,
a rollout wave started, baked, failed or rolled back, a flag changed. Each event has a
`kind` (dotted, e.g. `site.down`, `rollout.wave_failed`), a `subject` (the site or
workload it is about), a `message` a person can act on, and optional `data`.

`record_event` adds the row to the caller's session, so an event commits (or rolls
back) with the change it describes. `delivered_at` is the webhook outbox: a delivery
job POSTs undelivered events in id order and marks them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.services.db import EventRow
from fleetyard.services.wire import EventOut

__all__ = ["MAX_LIMIT", "MESSAGE_MAX", "list_events", "record_event", "to_wire"]

MAX_LIMIT = 10_000
MESSAGE_MAX = 4_000


def record_event(session: Session, kind: str, subject: str, message: str, *, data: dict[str, Any] | None = None,
                 at: datetime | None = None) -> EventRow:
    """Add an event to the session (the caller commits it with the change it describes)."""
    row = EventRow(at=at or datetime.now(UTC), kind=kind[:40], subject=subject[:255], message=message[:MESSAGE_MAX],
                   data=data, delivered_at=None)
    session.add(row)
    return row


def to_wire(row: EventRow) -> EventOut:
    return EventOut(id=row.id, at=row.at, kind=row.kind, subject=row.subject, message=row.message, data=row.data)


def list_events(session: Session, *, after: int | None = None, limit: int = 100, kind: str | None = None,
                subject: str | None = None) -> list[EventOut]:
    """Events in id order: the newest `limit` ones, or (with `after`) the first `limit` after that id."""
    limit = max(1, min(limit, MAX_LIMIT))
    q = select(EventRow)
    if kind:
        q = q.where(EventRow.kind.startswith(kind) if kind.endswith(".") else EventRow.kind == kind)
    if subject:
        q = q.where(EventRow.subject == subject)
    if after is not None:
        rows = list(session.scalars(q.where(EventRow.id > after).order_by(EventRow.id).limit(limit)))
    else:
        rows = list(reversed(list(session.scalars(q.order_by(EventRow.id.desc()).limit(limit)))))
    return [to_wire(r) for r in rows]
