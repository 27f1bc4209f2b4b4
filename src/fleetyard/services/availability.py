"""The stored failover view of each site (`site_availability` rows).

A row's columns are what status shows (`available`, `since`, `reason`); its
`document` holds the decision state of `rollout.availability` (`availability`) and
of drift detection (`drift`: what differs from the desired state and since when).
Sites without a row are available. Every write is conditional on the row's
`updated_at` as read, so when several servers share one database only one of them
acts on a change (services/failover.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetyard.rollout.availability import Availability
from fleetyard.services.db import SiteAvailabilityRow

__all__ = ["SiteRecord", "down_sites", "planned_down", "read_records", "write_record"]


@dataclass
class SiteRecord:
    """One site's stored failover view, as read (`updated_at` None: no row yet)."""

    site: str
    availability: Availability | None = None
    drift: dict[str, Any] | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other keys of the document, kept as they are

    def document(self) -> dict[str, Any]:
        doc = dict(self.extra)
        doc["availability"] = self.availability.to_doc() if self.availability else None
        doc["drift"] = self.drift
        return doc


def _record(row: SiteAvailabilityRow) -> SiteRecord:
    doc = dict(row.document or {})
    availability = None
    raw = doc.pop("availability", None)
    if isinstance(raw, dict):
        try:
            availability = Availability.from_doc(raw)
        except ValueError:
            availability = None
    drift = doc.pop("drift", None)
    return SiteRecord(row.site, availability, drift if isinstance(drift, dict) else None, row.updated_at, doc)


def read_records(session: Session) -> dict[str, SiteRecord]:
    """Every stored site view, by site."""
    return {r.site: _record(r) for r in session.scalars(select(SiteAvailabilityRow))}


def down_sites(session: Session) -> frozenset[str]:
    """Sites whose work is elsewhere (unavailable, or returning within the hold-off)."""
    return frozenset(session.scalars(select(SiteAvailabilityRow.site).where(SiteAvailabilityRow.available.is_(False))))


def planned_down(session: Session) -> frozenset[str]:
    """Sites the current plan was made without (set with the plan, services/apply.py)."""
    return frozenset(r.site for r in session.scalars(select(SiteAvailabilityRow))
                     if (r.document or {}).get("planned_down"))


def write_record(session: Session, record: SiteRecord, now: datetime) -> bool:
    """Store `record` if nobody changed its row since it was read (False: somebody did;
    the caller's session then holds nothing of this write)."""
    a = record.availability
    available = a is None or not a.down
    values = {"available": available, "since": a.since if a is not None else now,
              "reason": a.reason if a is not None and a.down else None, "document": record.document(),
              "updated_at": now}
    if record.updated_at is None:
        try:
            with session.begin_nested():
                session.add(SiteAvailabilityRow(site=record.site, **values))
        except IntegrityError:  # another server inserted it first
            return False
        record.updated_at = now
        return True
    done = session.execute(update(SiteAvailabilityRow)
                           .where(SiteAvailabilityRow.site == record.site,
                                  SiteAvailabilityRow.updated_at == record.updated_at)
                           .values(**values))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record.updated_at = now
    return True
