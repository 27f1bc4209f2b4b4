"""Desired state: what each site must hold and run, derived from the current plan.

For a site: the workloads assigned to it (replicas summed over SKUs; the SKU shown is
the one with most replicas), their `command` and `env`, and the model versions they
need. A deferred job (issue 11) is desired only while now is inside one of its slots at
the site (services/schedules.py): the agent starts it when its slot begins and stops it
when the slot ends. A workload with a rollout block runs the version its rollout gives the site
(services/rollout_state.py) with its health spec, and keeps the previous version.
Model references were resolved against the registry when the plan was made;
one that did not resolve then is tried again now (a model pushed after the apply
needs no re-apply), and one that still does not is listed in `problems`. For the site's
telemetry (issue 12, docs/telemetry-agent.md) each workload carries its `metrics` block,
its type and its SKU's board power at the site (the pool's `tdp_w`, else the catalog's).

Each model lists its chunk `sources` in order of preference: peer sites that last
reported the version `synced` or `active`, serve chunks (`peer_url`) and are not
stale, nearest first by the estimated RTT between the two sites' locations
(`spec.geo.estimated_rtt_ms`: great circle x 1.5 route factor at 200 km/ms, plus
2 ms); then the center. The center sends about one copy per region; peers relay
the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetyard.registry import Store, parse_ref
from fleetyard.services.db import ResourceRow, SiteReportRow
from fleetyard.services.errors import NotFound
from fleetyard.services.flags import desired_flags
from fleetyard.services.fleet_cache import cached
from fleetyard.services.planning import current_plan, parse_plan
from fleetyard.services.rollout_state import assignment, gated, latest_rollouts, resolved_ref
from fleetyard.services.schedules import active_jobs, current_schedule, parse_schedule, upcoming_jobs
from fleetyard.services.secret_box import SecretBox
from fleetyard.services.secrets import fill_values
from fleetyard.services.wire import ChunkSource, DesiredModel, DesiredState, DesiredWorkload, SecretEnv, SiteReport
from fleetyard.spec import Site, Workload
from fleetyard.spec.catalog import CATALOG
from fleetyard.spec.geo import estimated_rtt_ms
from fleetyard.spec.inventory import declared_counts
from fleetyard.spec.plan import Plan
from fleetyard.spec.timeplan import Schedule

__all__ = ["SiteNeed", "desired_state", "relay_sources", "site_needs", "site_specs", "workload_specs"]

STALE_AFTER = 3  # heartbeat intervals, as in status
SERVING = ("synced", "active")


@dataclass
class SiteNeed:
    """The workloads a site must run and the model references (requested → resolved) they use."""

    workloads: list[DesiredWorkload] = field(default_factory=list)
    requested: dict[str, str] = field(default_factory=dict)  # resolved or requested ref -> requested

    @property
    def refs(self) -> list[str]:
        return sorted(self.requested)


def workload_specs(session: Session) -> dict[str, Workload]:
    """The stored Workloads that validate, by name (a copy of the cached map: services/fleet_cache.py)."""
    return dict(cached(session, "workloads", lambda: _workload_specs(session)))


def _workload_specs(session: Session) -> dict[str, Workload]:
    out: dict[str, Workload] = {}
    for row in session.scalars(select(ResourceRow).where(ResourceRow.kind == "Workload")):
        try:
            out[row.name] = Workload.model_validate(row.document)
        except ValidationError:
            continue
    return out


def site_specs(session: Session) -> dict[str, Site]:
    """The stored Sites that validate, by name (a copy of the cached map)."""
    return dict(cached(session, "sites", lambda: _site_specs(session)))


def _site_specs(session: Session) -> dict[str, Site]:
    out: dict[str, Site] = {}
    for row in session.scalars(select(ResourceRow).where(ResourceRow.kind == "Site")):
        try:
            out[row.name] = Site.model_validate(row.document)
        except ValidationError:
            continue
    return out


def site_needs(session: Session, plan: Plan | None, models: Mapping[str, Any],
               store: Store | None = None, *, schedule: Schedule | None = None,
               now: datetime | None = None) -> dict[str, SiteNeed]:
    """Per site, the desired workloads and models of `plan` (`store`: re-resolve misses),
    and the deferred jobs of `schedule` whose slot holds `now` (issue 11: held back until then;
    the models of those with a slot still to come are held already)."""
    if plan is None:
        return {}
    specs = workload_specs(session)
    per: dict[tuple[str, str], dict[str, int]] = {}
    at = now or datetime.now(UTC)
    running = active_jobs(schedule, at)
    placed = [(a.site, a.workload, a.gpu_sku, a.replicas) for a in plan.assignments]
    for site, name, sku, replicas in placed + [(j.site, j.workload, j.gpu_sku, j.replicas) for j in running]:
        per.setdefault((site, name), {}).setdefault(sku, 0)
        per[(site, name)][sku] += replicas
    rollouts = latest_rollouts(session)
    sites = site_specs(session)
    refs: dict[str, str | None] = {}  # each reference resolved once
    out: dict[str, SiteNeed] = {}
    for (site, name), skus in sorted(per.items()):
        w = specs.get(name)
        if w is None or sum(skus.values()) == 0:
            continue
        requested = w.spec.model
        if requested not in refs:
            refs[requested] = resolved_ref(models, requested, store)
        ref = refs[requested]
        given = assignment(w, site, ref, rollouts.get(name))
        v = given.version
        rs = w.spec.rollout if gated(w) else None
        sku = max(sorted(skus), key=lambda k: skus[k])
        need = out.setdefault(site, SiteNeed())
        need.workloads.append(DesiredWorkload(
            name=name, model=v.model, replicas=sum(skus.values()), gpu_sku=sku,
            gpus_per_replica=w.spec.replica.gpus, command=list(v.command) if v.command is not None else None,
            env=dict(v.env), secret_env={k: SecretEnv(secret=r.secret, key=r.key) for k, r in
                                         sorted(w.spec.secret_env.items())},
            health=rs.health if rs else None, validate=rs.validate_ if rs else None,
            max_unavailable=rs.max_unavailable if rs else 1, keep=given.keep,
            metrics=w.spec.metrics, type=w.spec.type, tdp_w=_tdp_w(sites.get(site), sku)))
        need.requested.setdefault(v.model, requested if v.model == (ref or requested) else v.model)
        for kept in (*given.keep, *given.prefetch):
            need.requested.setdefault(kept, kept)
    for j in upcoming_jobs(schedule, at):  # their models are synced ahead, so they start on time
        w = specs.get(j.workload)
        if w is None:
            continue
        requested = w.spec.model
        ref = refs[requested] if requested in refs else refs.setdefault(requested,
                                                                         resolved_ref(models, requested, store))
        out.setdefault(j.site, SiteNeed()).requested.setdefault(ref or requested, requested)
    return out


def _tdp_w(site: Site | None, sku: str) -> float | None:
    """The SKU's board power at the site: its pool's `tdp_w`, else the catalog's (None: unknown)."""
    pool = next((p for p in site.spec.gpus if p.sku == sku), None) if site is not None else None
    if pool is not None and pool.tdp_w is not None:
        return pool.tdp_w
    known = CATALOG.get(sku)
    return known.tdp_w if known is not None else None


def _stale(received: datetime, now: datetime, interval: float) -> bool:
    return (now - received).total_seconds() > STALE_AFTER * interval


def relay_sources(site: str, ref: str, sites: Mapping[str, Site], reports: Mapping[str, tuple[datetime, SiteReport]],
                  center_url: str, *, now: datetime, interval: float) -> list[ChunkSource]:
    """Peers holding `ref` nearest first (by estimated RTT), then the center."""
    here = sites.get(site)
    peers: list[tuple[float, str, ChunkSource]] = []
    for name, (received, report) in reports.items():
        if name == site or not report.peer_url or _stale(received, now, interval):
            continue
        holds = any(m.ref == ref and m.state in SERVING for m in report.models) or ref in report.active.values()
        if not holds:
            continue
        there = sites.get(name)
        rtt = (round(estimated_rtt_ms(here.spec.location, there.spec.location), 1)
               if here is not None and there is not None else None)
        peers.append((rtt if rtt is not None else float("inf"), name,
                      ChunkSource(kind="peer", site=name, url=report.peer_url, latency_ms=rtt)))
    peers.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in peers] + [ChunkSource(kind="center", url=center_url)]


def desired_state(session: Session, store: Store, site: str, center_url: str, interval: float, *,
                  now: datetime | None = None, secrets: SecretBox | None = None,
                  reveal: bool = False) -> DesiredState:
    """The `DesiredState` of one site (NotFound for a site the fleet does not have). Its
    workloads' `secret_env` carry digests, and values only when `reveal` (the caller is the
    site's own agent; services/secrets.py)."""
    at = now or datetime.now(UTC)
    sites = site_specs(session)
    spec = sites.get(site)
    if spec is None:
        raise NotFound(f"no Site named {site!r} in the fleet")
    flags = desired_flags(session, spec)  # issue 10: served at the site over OFREP (services/flags.py)
    declared = declared_counts(spec)  # issue 14: what the agent compares its GPUs with (docs/attestation.md)
    row = current_plan(session)
    if row is None:
        return DesiredState(site=site, revision=0, generated_at=at, models=[], workloads=[],
                            sync_windows=list(spec.spec.sync_windows), timezone=spec.spec.timezone,
                            problems=["no plan yet: apply a fleet first"], declared_gpus=declared, **flags)
    schedule = parse_schedule(current_schedule(session))
    need = site_needs(session, parse_plan(row.plan), row.models, store, schedule=schedule, now=at).get(
        site, SiteNeed())
    last = {r.site: (r.received_at, SiteReport.model_validate(r.report))
            for r in session.scalars(select(SiteReportRow).where(SiteReportRow.peer_url.is_not(None)))}
    models: list[DesiredModel] = []
    problems: list[str] = fill_values(session, secrets, need.workloads, reveal=reveal)
    for ref in need.refs:
        requested = need.requested[ref]
        parsed = parse_ref(ref)
        if parsed.version is None or not store.has_version(parsed.name, parsed.version):
            users = ", ".join(w.name for w in need.workloads if w.model == ref)
            problems.append(f"model {requested} (for {users}) is not in the registry")
            continue
        models.append(DesiredModel(ref=ref, name=parsed.name, version=parsed.version, requested=requested,
                                   sources=relay_sources(site, ref, sites, last, center_url, now=at,
                                                         interval=interval)))
    return DesiredState(site=site, revision=row.revision, generated_at=at, models=models,
                        workloads=need.workloads, sync_windows=list(spec.spec.sync_windows),
                        timezone=spec.spec.timezone, problems=problems, declared_gpus=declared, **flags)
