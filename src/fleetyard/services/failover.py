"""Failover: the background job that marks silent sites unavailable and moves their work.

Every tick (server/background.py) the job looks at each site's last heartbeat
(`status.reports`) and runs the availability machine (`rollout.availability`):

- a site silent for `grace` becomes unavailable: event `site.down`, and a re-plan
  without it (`FleetService.replan`: the plan is made with the down sites offering no
  capacity, residency and every policy holding; what cannot move is in the
  `plan.replanned` event). The plan is a new revision by actor `failover`, so the
  agents of the other sites get the displaced work through their desired state;
- heartbeats resume: `site.returning`; its work stays elsewhere;
- heartbeating without a miss for `hold_off`: `site.up`, and a re-plan with it
  (work may move back, when that pays for its move cost or serves more).

The same job keeps drift state (services/drift.py) and hardware drift: an event when the
GPUs a site's agent found stop matching its declared inventory, and when they match again
(services/attestation.py). Decisions are stored with
conditional writes (services/availability.py) and re-plans bump the revision
conditionally, so two servers on one database never act twice on one change; a
server that just started does not count its own absence as the sites' silence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.rollout.availability import Availability, AvailabilityPolicy, Transition, decide
from fleetyard.services.apply import FleetService
from fleetyard.services.attestation import INVENTORY_KEY, drift_key, inventory_event, inventory_status
from fleetyard.services.availability import SiteRecord, read_records, write_record
from fleetyard.services.db import Database, ResourceRow
from fleetyard.services.desired import SiteNeed, site_needs, site_specs
from fleetyard.services.drift import differences, next_drift
from fleetyard.services.events import record_event
from fleetyard.services.identity import Principal
from fleetyard.services.planning import current_plan, parse_plan
from fleetyard.services.status import STALE_AFTER, reports

__all__ = ["FAILOVER_ACTOR", "FailoverJob", "FailoverSettings"]

log = logging.getLogger("fleetyard.server")
FAILOVER_ACTOR = Principal(token_id="failover", role="admin")


@dataclass(frozen=True)
class FailoverSettings:
    """FLEETYARD_FAILOVER, _GRACE, _HOLD_OFF and the heartbeat and tick intervals."""

    enabled: bool = True
    grace: float = 30.0
    hold_off: float = 300.0
    heartbeat_interval: float = 5.0
    tick_interval: float = 1.0

    def policy(self) -> AvailabilityPolicy:
        # A miss: no heartbeat for as long as makes a site stale (3 intervals), and never
        # shorter than a few looks (the job cannot tell a gap shorter than its own tick).
        miss = max(STALE_AFTER * self.heartbeat_interval, 3 * self.tick_interval)
        return AvailabilityPolicy(grace=self.grace, hold_off=self.hold_off, miss_after=min(miss, self.grace))


def _event(session: Session, site: str, change: Transition, new: Availability, now: datetime) -> None:
    data = {"site": site, "before": change.before, "after": change.after, "reason": change.reason,
            "since": new.since.isoformat()}
    if change.moves == "out":
        record_event(session, "site.down", site, f"{site} is unavailable: {change.reason}; its work moves to "
                     "other sites", data=data, at=now)
    elif change.moves == "back":
        record_event(session, "site.up", site, f"{site} is available again: {change.reason}; work may move back",
                     data=data, at=now)
    else:
        record_event(session, "site.returning", site, f"{site}: {change.reason}", data=data, at=now)


class FailoverJob:
    """`job(now)`: one look at every site (see the module docstring)."""

    def __init__(self, db: Database, fleet: FleetService, settings: FailoverSettings,
                 started: datetime | None = None) -> None:
        self.db, self.fleet, self.settings = db, fleet, settings
        self.policy = settings.policy()
        self.started = started or datetime.now(UTC)
        self._needs: tuple[int, dict[str, SiteNeed]] | None = None

    def _site_needs(self, session: Session) -> dict[str, SiteNeed]:
        row = current_plan(session)
        if row is None:
            return {}
        if self._needs is None or self._needs[0] != row.revision:
            self._needs = (row.revision, site_needs(session, parse_plan(row.plan), row.models))
        return self._needs[1]

    def __call__(self, now: datetime) -> None:
        self.look(now)
        if self.settings.enabled or self.fleet.attested:  # attested capacity re-plans without failover too
            result = self.fleet.replan(FAILOVER_ACTOR)  # also after a crash between a decision and its plan
            if result is not None and result.plan_changes:
                log.info("failover: re-planned revision %d (%d change(s))", result.revision, len(result.plan_changes))

    def look(self, now: datetime) -> bool:
        """Decide every site's availability and drift at `now`; True if work must move."""
        moved = False
        with self.db.session() as s:
            # in site order, as a plan commit locks the rows (services/apply.py): no lock cycles
            names = sorted(s.scalars(select(ResourceRow.name).where(ResourceRow.kind == "Site")))
            last = reports(s)
            records = read_records(s)
            needs = self._site_needs(s)
            specs = site_specs(s)
            for site in names:
                rec = records.get(site) or SiteRecord(site)
                received, report = last.get(site, (None, None))
                if self.settings.enabled:
                    new, change = decide(rec.availability, received, now, self.policy, watching_since=self.started)
                else:  # off: every site counts as available (the next plan uses them all)
                    new, change = Availability("available", since=now), None
                    if rec.availability is not None and not rec.availability.down:
                        new = rec.availability
                # While available, the last heartbeat is not part of the decision: not storing it
                # means no write per heartbeat.
                stored = new if new.down else replace(new, last_heartbeat=None)
                fresh = received is not None and (now - received).total_seconds() <= self.policy.miss
                drift = next_drift(rec.drift, differences(needs.get(site), report), now) \
                    if fresh and not new.down else None
                hardware = drift_key(inventory_status(report.inventory, specs.get(site)) if report else None)
                was = rec.extra.get(INVENTORY_KEY)
                if stored == rec.availability and drift == rec.drift and hardware == was:
                    continue
                extra = {k: v for k, v in rec.extra.items() if k != INVENTORY_KEY}
                if hardware is not None:
                    extra[INVENTORY_KEY] = hardware
                if not write_record(s, SiteRecord(site, stored, drift, rec.updated_at, extra), now):
                    continue  # another server decided first; look again next tick
                if hardware != was:  # issue 14: the site's GPUs stopped (or started again) matching its Site
                    inventory_event(s, site, was, hardware, now)
                if change is not None:
                    _event(s, site, change, new, now)
                    log.info("failover: %s %s -> %s: %s", site, change.before, change.after, change.reason)
                    moved = moved or change.moves is not None
            s.commit()
        return moved
