"""The rollout controller: start a rollout when a workload's version changes, drive it with
the agents' reports, and the operators' actions (pause, resume, promote, abort, undo).

A *version* is what a site runs for a workload: the resolved model reference (an alias
is followed when the plan is made, or now if it did not resolve then) plus the replica
`command` and `env`. When the spec asks for another version than the workload's latest
rollout was made for, the background job (`tick`, every FLEETYARD_TICK_INTERVAL) starts
a new rollout from the stable version - the old rollout's `to` if it succeeded, else
its `from` (an unfinished one is aborted, superseded) - to the new one. The waves come
from the current plan (rollout/waves.py); each tick feeds every site's last report
(`WorkloadStatus.health`, about the version it was told to run; a stale report counts
as none) to the state machine (rollout/machine.py), which moves on or halts.

Several servers may share a database: a tick first decides without writing, and only
if something changes takes the rollout lock (a PostgreSQL advisory lock; SQLite's
write lock), decides again and writes - so two servers never act twice. Operator
actions take the same lock. Every step is recorded as `rollout.*` events, every action
in the audit log, in the transaction of the change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from fleetyard.registry import Store
from fleetyard.rollout import (
    ACTIVE,
    Candidate,
    Event,
    Observation,
    Policy,
    Refused,
    Rollout,
    SiteView,
    Version,
    abort,
    choose_waves,
    pause,
    promote,
    resume,
    start,
    step,
)
from fleetyard.services import audit
from fleetyard.services.db import Database, RolloutRow
from fleetyard.services.desired import site_specs, workload_specs
from fleetyard.services.errors import Conflict, InvalidRequest, NotFound
from fleetyard.services.events import record_event
from fleetyard.services.identity import Principal
from fleetyard.services.planning import current_plan, parse_plan, resolve_model
from fleetyard.services.rollout_state import Stored, gated, latest_rollouts, load, resolved_ref, spec_version
from fleetyard.services.status import STALE_AFTER, reports
from fleetyard.services.wire import RolloutOut, RolloutWaveOut, SiteReport
from fleetyard.spec import Workload
from fleetyard.spec.plan import Plan
from fleetyard.spec.rollout import Wave

__all__ = ["ACTIONS", "RolloutService", "to_wire"]

ROLLOUT_LOCK = 0x666C7952  # pg_advisory_xact_lock key of the rollout controller
ACTIONS = ("pause", "resume", "promote", "abort", "undo")
CONTROLLER = "controller"


def policy_of(w: Workload) -> Policy:
    rs = w.spec.rollout
    return Policy(bake_s=rs.bake_s, health=rs.health, auto_rollback=rs.auto_rollback, gated=gated(w),
                  validate_timeout_s=rs.validate_.timeout_s if rs.validate_ else None)


def _lock(session: Session) -> None:
    """Serialize rollout decisions across servers (held until the transaction ends)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROLLOUT_LOCK})
    else:  # a write statement takes SQLite's one write lock, even when it changes nothing
        session.execute(update(RolloutRow).where(RolloutRow.id == -1).values(state="locked"))


def _stable(r: Rollout) -> Version:
    """The version a new rollout starts from: where this one succeeded, else where it came from."""
    return r.to if r.state == "succeeded" or r.from_ is None else r.from_


class _Fleet:
    """What one decision reads: the plan, the workloads and sites, the reports, the rollouts."""

    def __init__(self, session: Session, store: Store, interval: float, now: datetime) -> None:
        row = current_plan(session)
        self.plan: Plan | None = parse_plan(row.plan) if row else None
        self.models: dict[str, Any] = dict(row.models) if row else {}
        self.workloads = workload_specs(session)
        self.sites = site_specs(session)
        self.rollouts = latest_rollouts(session)
        self.store = store
        self._session, self._cutoff = session, now - timedelta(seconds=STALE_AFTER * interval)

    @functools.cached_property
    def reports(self) -> dict[str, SiteReport]:
        """The fresh reports, read only when a rollout runs (a stale one counts as none)."""
        return {s: rep for s, (at, rep) in reports(self._session).items() if at >= self._cutoff}

    def placed(self, workload: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.plan.assignments if self.plan else ():
            if a.workload == workload and a.replicas > 0:
                out[a.site] = out.get(a.site, 0) + a.replicas
        return out

    def candidates(self, workload: str) -> list[Candidate]:
        rps: dict[str, float] = {}
        for route in self.plan.routes if self.plan else ():
            if route.workload == workload:
                rps[route.site] = rps.get(route.site, 0.0) + route.rps
        out = []
        for site in self.placed(workload):
            spec = self.sites.get(site)
            out.append(Candidate(site, round(rps.get(site, 0.0), 3), dict(spec.labels) if spec else {}))
        return out

    def views(self, workload: str) -> dict[str, SiteView]:
        out: dict[str, SiteView] = {}
        for site, desired in self.placed(workload).items():
            report = self.reports.get(site)
            status = next((w for w in report.workloads if w.name == workload), None) if report else None
            obs = None
            if status is not None and status.health is not None:
                h = status.health
                obs = Observation(model=h.model, validation=h.validation, validation_message=h.validation_message,
                                  ready=h.ready, total=h.total, error_ratio=h.error_ratio, p95_ms=h.p95_ms,
                                  last_error=h.last_error)
            elif status is not None:  # an agent older than rollouts: no probe, no validation; its healthy replicas
                obs = Observation(model=status.model, validation="passed", ready=status.replicas.healthy,
                                  total=status.replicas.running, last_error=status.error)
            out[site] = SiteView(desired, obs)
        return out


class RolloutService:
    def __init__(self, db: Database, store: Store, heartbeat_interval: float) -> None:
        self.db, self.store, self.interval = db, store, heartbeat_interval

    # ---- the background job -----------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Start rollouts for new versions and step the running ones (server/background.py)."""
        with self.db.session() as s:
            if not self._decide(s, now, write=False):
                return
        with self.db.session() as s:
            _lock(s)
            self._decide(s, now, write=True)
            s.commit()

    def _decide(self, s: Session, now: datetime, *, write: bool) -> bool:
        fleet = _Fleet(s, self.store, self.interval, now)
        if fleet.plan is None:
            return False
        changed = False
        for name, w in sorted(fleet.workloads.items()):
            ref = resolved_ref(fleet.models, w.spec.model, self.store)
            if ref is None:
                continue  # not in the registry: nothing to roll out yet (desired state says so)
            wanted = spec_version(w, ref)
            cur = fleet.rollouts.get(name)
            if cur is None or cur.spec != wanted:
                if not fleet.placed(name) and cur is None:
                    continue
                changed = True
                if write:
                    self._start(s, fleet, w, cur, wanted, wanted, policy_of(w), now, CONTROLLER, "apply")
            elif cur.rollout.state in ACTIVE:
                r = Rollout.from_document(cur.rollout.to_document())
                events = step(r, now, fleet.views(name))
                if r.to_document() != cur.rollout.to_document():
                    changed = True
                    if write:
                        self._save(s, cur, r, events, now)
        return changed

    # ---- writing ----------------------------------------------------------------------

    def _save(self, s: Session, cur: Stored, r: Rollout, events: list[Event], now: datetime) -> None:
        s.execute(update(RolloutRow).where(RolloutRow.id == cur.row.id)
                  .values(state=r.state, document=r.to_document() | {"spec": cur.spec.to_document()}, updated_at=now))
        self._events(s, r, events, cur.row.id, now)

    @staticmethod
    def _events(s: Session, r: Rollout, events: list[Event], rollout_id: int, now: datetime) -> None:
        for e in events:
            record_event(s, e.kind, r.workload, e.message, data=e.data | {"rollout": rollout_id}, at=now)

    def _start(self, s: Session, fleet: _Fleet, w: Workload, cur: Stored | None, spec: Version, to: Version,
               policy: Policy, now: datetime, actor: str, cause: str, waves: list[Wave] | None = None,
               from_override: Version | None = None) -> Stored:
        name = w.metadata.name
        if cur is not None and cur.rollout.state in ACTIVE:
            old = Rollout.from_document(cur.rollout.to_document())
            events = abort(old, now, actor, f"superseded by a new rollout to {to.model}")
            self._save(s, cur, old, events, now)
        from_ = from_override or (_stable(cur.rollout) if cur is not None else None)
        rs = w.spec.rollout
        spec_waves = waves or (rs.waves if rs.strategy == "canary" else [Wave(percent=100.0)])
        r, events = start(name, from_, to, choose_waves(spec_waves, fleet.candidates(name)), policy, now, cause=cause)
        row = RolloutRow(workload=name, state=r.state, document=r.to_document() | {"spec": spec.to_document()},
                         created_by=actor[:120], created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        self._events(s, r, events, row.id, now)
        return load(row)

    # ---- reads and operator actions -----------------------------------------------------

    def list(self) -> list[RolloutOut]:
        with self.db.session() as s:
            return [to_wire(x) for _, x in sorted(latest_rollouts(s).items())]

    def get(self, workload: str) -> RolloutOut:
        with self.db.session() as s:
            return to_wire(self._latest(s, workload, "show"))

    @staticmethod
    def _latest(s: Session, workload: str, verb: str) -> Stored:
        found = latest_rollouts(s, workload).get(workload)
        if found is None:
            if workload not in workload_specs(s):
                raise NotFound(f"no Workload named {workload!r}, so no rollout to {verb}")
            raise NotFound(f"workload {workload!r} has no rollout yet (its model is not in the registry, "
                           f"or it is placed nowhere); nothing to {verb}")
        return found

    def act(self, workload: str, action: str, actor: Principal, to: str | None = None) -> RolloutOut:
        """pause | resume | promote | abort | undo (to: a model reference to pin)."""
        if action not in ACTIONS:
            raise NotFound(f"no rollout action {action!r}: expected one of {', '.join(ACTIONS)}")
        if to is not None and action != "undo":
            raise InvalidRequest(f"`to` is only for undo, not for {action}")
        now = datetime.now(UTC)
        with self.db.session() as s:
            _lock(s)
            cur = self._latest(s, workload, action)
            before = {"id": cur.row.id, "state": cur.rollout.state, "to": cur.rollout.to.model}
            if action == "undo":
                made = self._undo(s, cur, now, actor, to)
                after = {"id": made.row.id, "state": made.rollout.state, "from": made.rollout.from_.model
                         if made.rollout.from_ else None, "to": made.rollout.to.model}
                result = made
            else:
                ops: dict[str, Callable[[Rollout, datetime, str], list[Event]]] = {
                    "pause": pause, "resume": resume, "promote": promote, "abort": abort}
                r = Rollout.from_document(cur.rollout.to_document())
                try:
                    events = ops[action](r, now, actor.actor)
                except Refused as exc:
                    raise Conflict(str(exc)) from None
                self._save(s, cur, r, events, now)
                after = {"id": cur.row.id, "state": r.state, "to": r.to.model}
                result = Stored(cur.row, r, cur.spec)
            audit.record(s, actor, f"rollout.{action}", f"Workload/{workload}", before=before, after=after, at=now)
            s.commit()
            s.refresh(result.row)
            return to_wire(load(result.row))

    def _undo(self, s: Session, cur: Stored, now: datetime, actor: Principal, to: str | None) -> Stored:
        r = cur.rollout
        fleet = _Fleet(s, self.store, self.interval, now)
        w = fleet.workloads.get(r.workload)
        if w is None:
            raise NotFound(f"no Workload named {r.workload!r}")
        current = r.to if r.state in ("succeeded", *ACTIVE) or r.from_ is None else r.from_
        if to is not None:
            ref = resolve_model(self.store, to)
            if ref is None:
                raise InvalidRequest(f"model {to} is not in the registry: push it first, or give another version")
            target = Version(ref, current.command, current.env)
        elif r.state in ("succeeded", *ACTIVE) and r.from_ is not None:
            target = r.from_
        else:
            why = "it is the first version" if r.from_ is None else f"the rollout to {r.to.model} was {r.state}"
            raise Conflict(f"{r.workload} has no previous version to go back to ({why}; it runs "
                           f"{current.model}): give --to REF")
        if target == current and r.state not in ACTIVE:
            raise Conflict(f"{r.workload} already runs {target.model}")
        ref = resolved_ref(fleet.models, w.spec.model, self.store)
        spec = spec_version(w, ref or w.spec.model)
        p = policy_of(w)
        policy = Policy(bake_s=0.0, health=p.health, validate_timeout_s=p.validate_timeout_s, auto_rollback=False,
                        gated=p.gated)
        return self._start(s, fleet, w, cur, spec, target, policy, now, actor.actor, "undo",
                           waves=[Wave(percent=100.0)], from_override=current)


def to_wire(x: Stored) -> RolloutOut:
    r = x.rollout
    return RolloutOut.model_validate({
        "id": x.row.id, "workload": r.workload, "from": r.from_.model if r.from_ else None, "to": r.to.model,
        "state": r.state, "reason": r.reason, "cause": r.cause, "change": r.to.change_from(r.from_),
        "gated": r.policy.gated,
        "bake_s": r.policy.bake_s, "created_by": x.row.created_by, "created_at": r.created_at,
        "updated_at": r.updated_at,
        "waves": [RolloutWaveOut(index=w.index, sites=w.sites, state=w.state, reason=w.reason, why=w.why,
                                 started_at=w.started_at, finished_at=w.finished_at) for w in r.waves]})
