"""Apply and delete: validate the merged fleet, re-plan, and store it all in one transaction.

    fleet = stored resources, minus those the request replaces or deletes, plus the
            uploaded files                 -> load_fleet_sources (422 on any error)
    plan  = the optimizer on that fleet    (outside any transaction: it takes seconds)
    sched = the deferred work's schedule on that plan (services/schedules.py; 422 when a
            trace does not cover its horizon)
    write = one transaction: bump fleet_state.revision only if it is still the one we
            read (else start over), upsert/delete resources and energy traces
            (services/traces.py), add the plan revision and its schedule, one audit
            entry per changed resource and one for the plan

A crash at any moment leaves the database before or after the change, never between
(the transaction), and an acknowledged apply is committed (SQLite `synchronous=FULL`,
PostgreSQL `synchronous_commit=on`). Nothing changes on a dry run or when the request
changes no resource and no model reference resolves differently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fleetyard.registry import Store
from fleetyard.services import audit
from fleetyard.services.attestation import attest, attested_now, recut_sites
from fleetyard.services.availability import down_sites, planned_down
from fleetyard.services.db import (
    Database,
    FleetStateRow,
    PlanRevisionRow,
    ResourceRow,
    ScheduleRow,
    SiteAvailabilityRow,
)
from fleetyard.services.desired import site_specs
from fleetyard.services.errors import Conflict, NotFound, SpecInvalid, problems_out
from fleetyard.services.events import record_event
from fleetyard.services.flags import flag_events
from fleetyard.services.identity import Principal
from fleetyard.services.planning import (
    PlanSettings,
    current_plan,
    current_revision,
    make_plan,
    parse_plan,
    plan_changes,
    resolve_models,
)
from fleetyard.services.resources import Key, declared_keys, fleet_documents, kind_of, stored_sources
from fleetyard.services.schedules import ScheduleSettings, current_schedule, make_schedule, parse_schedule
from fleetyard.services.secret_box import SecretBox
from fleetyard.services.secrets import redacted, seal_document, secret_changes
from fleetyard.services.spec_diff import resource_diff
from fleetyard.services.status import reports
from fleetyard.services.storable import dotted, find_unstorable
from fleetyard.services.traces import StoredTrace, TraceWrites, stored_traces, trace_reader, trace_writes, write_traces
from fleetyard.services.wire import ApplyRequest, ApplyResult, ResourceChange, ResourceDiff, SiteReport
from fleetyard.spec import Problem, SpecError, load_fleet_sources
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import AttestedCapacity, Plan
from fleetyard.spec.timeplan import Schedule

__all__ = ["FleetService"]

ATTEMPTS = 5


class _Moved(Exception):
    """Another server process changed the fleet between our read and our write."""


@dataclass
class _Snapshot:
    rows: list[ResourceRow]
    revision: int
    plan: Plan | None
    models: dict[str, Any]
    down: frozenset[str] = frozenset()  # sites unavailable now (services/failover.py)
    planned: frozenset[str] = frozenset()  # sites the current plan was made without
    traces: dict[str, StoredTrace] = field(default_factory=dict)  # stored energy traces by path
    schedule: Schedule | None = None  # the current revision's schedule of deferred work
    reports: dict[str, tuple[datetime, SiteReport]] | None = None  # --attested-capacity: the last heartbeats


@dataclass
class _Edit:
    """What a request does to the stored fleet: the YAML to load, what it touches."""

    sources: list[tuple[str, str]]
    touched: set[Key] = field(default_factory=set)
    deleted: set[Key] = field(default_factory=set)
    what: str = "nothing was applied"
    replan: bool = False  # plan again even if no resource changed (failover)
    traces: dict[str, str] = field(default_factory=dict)  # uploaded energy traces by path


class FleetService:
    """Apply and delete for one server; one change at a time per process (a lock), and
    across processes by the conditional revision bump."""

    def __init__(self, db: Database, store: Store, settings: PlanSettings, *, failover: bool = True,
                 schedule: ScheduleSettings | None = None, attested: bool = False,
                 secrets: SecretBox | None = None) -> None:
        self.db, self.store, self.settings = db, store, settings
        self.secrets = secrets  # seals Secret values before they are stored (services/secrets.py)
        self.schedule = schedule or ScheduleSettings()
        self.failover = failover  # plan without the sites failover marked unavailable
        # issue 14 (services/attestation.py): plan with min(declared, found) GPUs where agents report them
        self.attested = attested
        self._planned_cuts: tuple[int, list[AttestedCapacity]] | None = None  # (revision, its plan's cuts)
        self._lock = threading.Lock()

    def apply(self, request: ApplyRequest, actor: Principal) -> ApplyResult:
        files = [(f.name, f.content) for f in request.files]
        traces = {f.name: f.content for f in request.traces}
        touched = declared_keys(files)

        def edit(rows: list[ResourceRow]) -> _Edit:
            return _Edit(files + stored_sources(rows, skip=touched), touched=touched, traces=traces)

        return self._run(edit, actor, request.dry_run, "apply")

    def delete(self, path_kind: str, name: str, actor: Principal, *, dry_run: bool = False) -> ApplyResult:
        kind = kind_of(path_kind)

        def edit(rows: list[ResourceRow]) -> _Edit:
            if not any(r.kind == kind and r.name == name for r in rows):
                raise NotFound(f"no {kind} named {name!r}")
            gone = {(kind, name)}
            return _Edit(stored_sources(rows, skip=gone), deleted=gone, what=f"{kind} {name} was not deleted")

        return self._run(edit, actor, dry_run, "delete")

    def replan(self, actor: Principal) -> ApplyResult | None:
        """Plan again if the sites down differ from those the current plan was made without,
        or (--attested-capacity) the GPUs found cut other capacity than the plan's (None: neither,
        or there is no plan yet). Conditional like every apply, so of several servers noticing
        the same change only one stores a plan for it."""

        def edit(rows: list[ResourceRow]) -> _Edit:
            return _Edit(stored_sources(rows, skip=set()), what="nothing was re-planned", replan=True)

        if not self.failover and not self.attested:
            return None
        with self.db.session() as s:
            if current_revision(s) == 0:
                return None
            moved = self.failover and down_sites(s) != planned_down(s)
            if not moved and not (self.attested and self._recut(s)):
                return None
        return self._run(edit, actor, False, "replan")

    def _recut(self, session: Session) -> bool:
        """Whether the last reports cut other capacity than the current plan was made with."""
        row = current_plan(session)
        if row is None:
            return False
        if self._planned_cuts is None or self._planned_cuts[0] != row.revision:
            self._planned_cuts = (row.revision, [AttestedCapacity.model_validate(x)
                                                 for x in (row.plan.get("attested") or [])])
        return attested_now(reports(session), site_specs(session)) != self._planned_cuts[1]

    # ---- the common path -------------------------------------------------------------

    def _snapshot(self) -> _Snapshot:
        with self.db.session() as s:
            rows = list(s.scalars(select(ResourceRow).order_by(ResourceRow.id)))
            revision = current_revision(s)
            row = current_plan(s)
            down = down_sites(s) if self.failover else frozenset()
            return _Snapshot(rows, revision, parse_plan(row.plan) if row else None, dict(row.models) if row else {},
                             down, planned_down(s), stored_traces(s), parse_schedule(current_schedule(s)),
                             reports(s) if self.attested else None)

    def _run(self, edit: Callable[[list[ResourceRow]], _Edit], actor: Principal, dry_run: bool,
             action: str) -> ApplyResult:
        for _ in range(ATTEMPTS):
            if dry_run:
                return self._attempt(edit, actor, dry_run, action)
            with self._lock:
                try:
                    return self._attempt(edit, actor, dry_run, action)
                except _Moved:
                    continue
        raise Conflict("the fleet kept changing under this request (other servers applying); try again")

    def _attempt(self, edit: Callable[[list[ResourceRow]], _Edit], actor: Principal, dry_run: bool,
                 action: str) -> ApplyResult:
        snap = self._snapshot()
        e = edit(snap.rows)
        try:
            loaded = load_fleet_sources(e.sources, traces=trace_reader(
                e.traces, {p: t.content for p, t in snap.traces.items()}), all_secrets=True)
        except SpecError as exc:
            raise SpecInvalid(exc.problems, e.what) from None
        docs = fleet_documents(loaded.fleet)
        _check_storable(loaded.fleet, docs, e.what)
        stored = {(r.kind, r.name): r for r in snap.rows}
        if self.secrets is None and any(k[0] == "Secret" for k in e.touched):
            raise Conflict("this server has no secrets key, so it cannot store a Secret; nothing was applied")
        changes = [ResourceChange(kind=k[0], name=k[1], action=self._action(stored.get(k), docs[k][0], k))
                   for k in docs if k in e.touched]
        changes += [ResourceChange(kind=k[0], name=k[1], action="deleted") for k in sorted(e.deleted)]
        diff = self._diffs(stored, docs, changes)
        models = resolve_models(loaded.fleet, self.store)
        changed = any(c.action != "unchanged" for c in changes) or models != snap.models or snap.plan is None
        changed = changed or snap.down != snap.planned
        planned_fleet, cuts = attest(loaded.fleet, snap.reports) if snap.reports is not None else (loaded.fleet, [])
        recut = recut_sites(snap.plan.attested if snap.plan else [], cuts)
        changed = changed or bool(recut)
        writes = trace_writes(loaded.fleet, e.traces, snap.traces)
        changed = changed or writes.changes_energy
        if e.replan and not changed:
            return ApplyResult(dry_run=dry_run, revision=snap.revision, changes=[], plan_changes=[],
                               cost_per_hour_before=snap.plan.totals.cost_per_hour if snap.plan else 0.0,
                               cost_per_hour_after=snap.plan.totals.cost_per_hour if snap.plan else 0.0)
        cost_before = snap.plan.totals.cost_per_hour if snap.plan else 0.0
        warnings = problems_out(loaded.warnings)
        if not changed:
            if not dry_run:
                self._write_sources(snap, docs, e.touched)
            return ApplyResult(dry_run=dry_run, revision=snap.revision, changes=changes, plan_changes=[],
                               cost_per_hour_before=cost_before, cost_per_hour_after=cost_before,
                               warnings=warnings, diff=diff)
        edited = {c.name for c in changes if c.kind == "Workload" and c.action != "unchanged"}
        touched_changes = [c for c in changes if c.action != "unchanged"]
        flags_only = snap.plan is not None and bool(touched_changes) and all(c.kind in ("Flag", "Secret")
                                                                             for c in touched_changes)
        plan = (snap.plan if flags_only and snap.plan and not recut else
                make_plan(planned_fleet, self.settings, current=snap.plan, changes=[*changes, *recut],
                          down=snap.down, back=snap.planned - snap.down).model_copy(update={"attested": cuts}))
        schedule = make_schedule(loaded.fleet, plan, datetime.now(UTC), self.schedule, previous=snap.schedule,
                                 edited=edited, what=e.what)
        result = ApplyResult(dry_run=dry_run, revision=snap.revision if dry_run else snap.revision + 1,
                             changes=changes, plan_changes=plan_changes(snap.plan, plan, edited),
                             cost_per_hour_before=cost_before, cost_per_hour_after=plan.totals.cost_per_hour,
                             warnings=warnings, diff=diff)
        if not dry_run:
            self._commit(snap, docs, changes, plan, models, actor, action, result, schedule, writes)
        return result

    def _action(self, row: ResourceRow | None, document: dict[str, Any], key: Key) -> Any:
        if row is None:
            return "created"
        if key[0] == "Secret":  # stored sealed: compared by the values in clear
            return "updated" if secret_changes(self.secrets, key[1], row.document, document)[0] else "unchanged"
        return "unchanged" if row.document == document else "updated"

    def _diffs(self, stored: dict[Key, ResourceRow], docs: dict[Key, tuple[dict[str, Any], str]],
               changes: list[ResourceChange]) -> list[ResourceDiff]:
        """Field by field, what each changed resource becomes (services/spec_diff.py): the
        stored document against the one applied; a Secret's values only as (changed)."""
        out = []
        for c in changes:
            old = stored.get((c.kind, c.name))
            new = docs.get((c.kind, c.name)) if c.action != "deleted" else None
            if c.kind == "Secret":
                d = secret_changes(self.secrets, c.name, old.document if old else None, new[0] if new else None)[1]
            else:
                d = resource_diff(c.kind, c.name, old.document if old else None, new[0] if new else None)
            if d is not None:
                out.append(d)
        return out

    def _sealed(self, key: Key, document: dict[str, Any]) -> dict[str, Any]:
        if key[0] != "Secret" or self.secrets is None:
            return document
        return seal_document(self.secrets, key[1], document)

    def _shown(self, key: Key, document: dict[str, Any] | None) -> dict[str, Any] | None:
        """A document as the audit log keeps it: a Secret without its values."""
        return redacted(self.secrets, key[1], document) if key[0] == "Secret" else document

    def _write_sources(self, snap: _Snapshot, docs: dict[Key, tuple[dict[str, Any], str]],
                       touched: set[Key]) -> None:
        """A re-apply of the same resources from another file only records the new file."""
        moved = {k: docs[k][1] for k in touched
                 if any((r.kind, r.name) == k and r.source != docs[k][1] for r in snap.rows)}
        if not moved:
            return
        with self.db.session() as s:
            for (kind, name), source in moved.items():
                s.execute(update(ResourceRow).where(ResourceRow.kind == kind, ResourceRow.name == name)
                          .values(source=source))
            s.commit()

    def _commit(self, snap: _Snapshot, docs: dict[Key, tuple[dict[str, Any], str]],
                changes: list[ResourceChange], plan: Plan, models: dict[str, str | None], actor: Principal,
                action: str, result: ApplyResult, schedule: Schedule, writes: TraceWrites) -> None:
        now = datetime.now(UTC)
        new_revision = snap.revision + 1
        stored = {(r.kind, r.name): r for r in snap.rows}
        with self.db.session() as s:
            bumped = s.execute(update(FleetStateRow)
                               .where(FleetStateRow.id == 1, FleetStateRow.revision == snap.revision)
                               .values(revision=new_revision, updated_at=now))
            if bumped.rowcount != 1:  # type: ignore[attr-defined]
                s.rollback()
                raise _Moved()
            for c in changes:
                key = (c.kind, c.name)
                target = f"{c.kind}/{c.name}"
                old = stored.get(key)
                if c.action == "deleted":
                    s.execute(delete(ResourceRow).where(ResourceRow.kind == c.kind, ResourceRow.name == c.name))
                    audit.record(s, actor, action, target, before=self._shown(key, old.document if old else None),
                                 at=now)
                    continue
                document, source = docs[key]
                shown = self._shown(key, document)
                document = self._sealed(key, document)
                if c.action == "created":
                    s.add(ResourceRow(kind=c.kind, name=c.name, document=document, source=source,
                                      created_at=now, updated_at=now))
                elif c.action == "updated":
                    s.execute(update(ResourceRow).where(ResourceRow.kind == c.kind, ResourceRow.name == c.name)
                              .values(document=document, source=source, updated_at=now))
                elif old is not None and old.source != source:
                    s.execute(update(ResourceRow).where(ResourceRow.kind == c.kind, ResourceRow.name == c.name)
                              .values(source=source))
                if c.action != "unchanged":
                    audit.record(s, actor, action, target, before=self._shown(key, old.document if old else None),
                                 after=shown, at=now)
            flag_events(s, changes, docs, actor, now)
            s.add(PlanRevisionRow(revision=new_revision, created_at=now, actor=actor.actor,
                                  plan=plan.model_dump(mode="json"), models=dict(models),
                                  cost_per_hour=plan.totals.cost_per_hour))
            s.add(ScheduleRow(revision=new_revision, document=schedule.model_dump(mode="json"), created_at=now))
            write_traces(s, writes, now)
            before = {"revision": snap.revision,
                      "cost_per_hour": snap.plan.totals.cost_per_hour if snap.plan else None}
            after = {"revision": new_revision, "cost_per_hour": plan.totals.cost_per_hour,
                     "replicas_placed": plan.totals.replicas_placed, "unplaced": len(plan.unplaced)}
            audit.record(s, actor, "plan", "plan", before=before, after=after, at=now)
            if snap.down or snap.planned:
                _mark_planned(s, snap, result, plan, actor, now)
            s.commit()


def _mark_planned(session: Session, snap: _Snapshot, result: ApplyResult, plan: Plan, actor: Principal,
                  now: datetime) -> None:
    """In the plan's transaction: which sites this plan was made without (the rows' `planned_down`;
    touching `updated_at` makes a failover decision read before this plan try again), and,
    when that changed, the `plan.replanned` event with what moved and what could not."""
    # Rows in site order, as the failover job writes them: the two never wait on each other in a cycle.
    for row in session.scalars(select(SiteAvailabilityRow).order_by(SiteAvailabilityRow.site).with_for_update()):
        flag = row.site in snap.down
        if bool((row.document or {}).get("planned_down")) != flag:
            row.document = {**(row.document or {}), "planned_down": flag}
            row.updated_at = now
    if snap.down == snap.planned:
        return
    out, back = sorted(snap.down - snap.planned), sorted(snap.planned - snap.down)
    moved = [f"{c.workload} {c.site} {c.before}->{c.after}" for c in result.plan_changes]
    short = [f"{u.workload} ({u.replicas} replica(s)): {'; '.join(u.reasons[:2])}" for u in plan.unplaced]
    what = [f"{', '.join(out)} down" if out else "", f"{', '.join(back)} back" if back else ""]
    message = (f"re-planned revision {result.revision} with {' and '.join(w for w in what if w)}: "
               + (", ".join(moved) if moved else "nothing moved")
               + (f"; cannot be placed or served: {' | '.join(short)}" if short else ""))
    record_event(session, "plan.replanned", "plan", message, at=now, data={
        "revision": result.revision, "down": sorted(snap.down), "out": out, "back": back, "actor": actor.actor,
        "changes": [c.model_dump(mode="json") for c in result.plan_changes],
        "unplaced": [u.model_dump(mode="json") for u in plan.unplaced]})


def _check_storable(fleet: Fleet, docs: dict[Key, tuple[dict[str, Any], str]], what: str) -> None:
    """SpecInvalid for strings YAML escapes can make but no database stores (NUL, lone
    surrogates), naming file, line and field - before anything is planned or written."""
    problems = []
    for key, (document, _source) in docs.items():
        found = find_unstorable(document)
        origin = fleet.origins.get(key)
        if found is not None and origin is not None:
            loc, why = found
            problems.append(Problem(origin.file, origin.line_of(loc), dotted(loc), why))
    if problems:
        raise SpecInvalid(problems, what)
