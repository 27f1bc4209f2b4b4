"""Tables for the control plane commands (`apply`, `get`, `status`, `audit`, `token`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from fleetyard.cli.attest_render import attested_text, found_text
from fleetyard.cli.output import size, table
from fleetyard.cli.render import money, resilience_text, totals_text, unplaced_table, workloads_table
from fleetyard.services.wire import (
    ApplyResult,
    AuditEntry,
    EventOut,
    FleetStatus,
    InventoryStatus,
    ModelOut,
    PlanOut,
    ResourceOut,
    SiteStatus,
    TokenOut,
)
from fleetyard.spec.trace import format_time

__all__ = ["apply_view", "audit_table", "deferred_table", "events_table", "models_table", "plan_view",
           "resources_table", "status_table", "tokens_table"]


def ago(at: datetime | None, now: datetime | None = None) -> str:
    if at is None:
        return "never"
    s = max(0.0, ((now or datetime.now(UTC)) - at).total_seconds())
    if s < 120:
        return f"{s:.0f}s ago"
    if s < 7200:
        return f"{s / 60:.0f}m ago"
    return f"{s / 3600:.1f}h ago"


def apply_view(r: ApplyResult, verb: str) -> Group:
    counts: dict[str, int] = {}
    for c in r.changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    what = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no resources"
    head = Text.assemble((f"{'dry run: ' if r.dry_run else ''}{verb} ", "bold"), what,
                         f"; plan revision {r.revision}" + (" (nothing was stored)" if r.dry_run else ""))
    parts: list[Any] = [head]
    changed = [c for c in r.changes if c.action != "unchanged"]
    if changed:
        t = table("Resource", "Change", title="Resources")
        style = {"created": "green", "updated": "yellow", "deleted": "red"}
        for c in changed:
            t.add_row(f"{c.kind}/{c.name}", Text(c.action, style=style.get(c.action, "")))
        parts.append(t)
    if r.plan_changes:
        t = table(title="Plan changes")
        for col in ("Workload", "Site", "SKU", "Before", "After", "Change"):
            t.add_column(col, justify="right" if col in ("Before", "After", "Change") else "left")
        for p in r.plan_changes:
            d = p.after - p.before
            t.add_row(p.workload, p.site, p.gpu_sku, str(p.before), str(p.after),
                      Text(f"{d:+d}", style="green" if d > 0 else "red"))
        parts.append(t)
    else:
        parts.append(Text("Plan: no placement changes", style="dim"))
    delta = r.cost_per_hour_after - r.cost_per_hour_before
    parts.append(Text.assemble(("Cost  ", "bold"), f"{money(r.cost_per_hour_before)}/h -> ",
                               (f"{money(r.cost_per_hour_after)}/h", "bold"),
                               (f" ({'+' if delta >= 0 else '-'}{money(abs(delta))}/h)",
                                "red" if delta > 0 else "green")))
    return Group(*parts)


def _spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("spec")
    return spec if isinstance(spec, dict) else {}


def resources_table(kind: str, rows: Sequence[ResourceOut],
                    found: Mapping[str, InventoryStatus | None] | None = None) -> Table:
    """`found` (sites): each site's inventory, for the Found column (issue 14)."""
    columns: dict[str, tuple[str, ...]] = {
        "sites": ("Name", "Type", "CC", "GPUs", *(("Found",) if found is not None else ()), "Windows", "Source",
                  "Updated"),
        "workloads": ("Name", "Type", "Model", "Replicas", "Priority", "Source", "Updated"),
        "regions": ("Name", "Lat", "Lon", "Source", "Updated"),
        "flags": ("Name", "Type", "Default", "Rules", "Enabled", "Source", "Updated"),
        "secrets": ("Name", "Keys", "Digests", "Source", "Updated"),  # never a value (docs/secrets.md)
    }
    cols = columns.get(kind, ("Name", "Source", "Updated"))
    t = table(*cols)
    for r in rows:
        s = _spec(r.document)
        tail = (r.source, r.updated_at.strftime("%Y-%m-%d %H:%M:%S"))
        if kind == "sites":
            gpus = ", ".join(f"{g.get('sku')} x{g.get('count')}" for g in s.get("gpus", []) if isinstance(g, dict))
            seen = (found_text(found.get(r.name)),) if found is not None else ()
            t.add_row(r.name, str(s.get("type", "")), str(s.get("country", "")), gpus, *seen,
                      ", ".join(s.get("sync_windows", [])) or "any", *tail)
        elif kind == "workloads":
            reps = s.get("replicas") or {}
            t.add_row(r.name, str(s.get("type", "")), str(s.get("model", "")),
                      f"{reps.get('min', 1)}-{reps.get('max', '')}", str(s.get("priority", 0)), *tail)
        elif kind == "regions":
            loc = s.get("location") or {}
            t.add_row(r.name, str(loc.get("lat", "")), str(loc.get("lon", "")), *tail)
        elif kind == "flags":
            t.add_row(r.name, str(s.get("type", "")), json.dumps(s.get("default")), str(len(s.get("rules") or [])),
                      "no" if s.get("enabled") is False else "yes", *tail)
        elif kind == "secrets":
            keys = r.secret_keys or []
            t.add_row(r.name, ", ".join(k.key for k in keys), ", ".join(k.digest for k in keys), *tail)
        else:
            t.add_row(r.name, *tail)
    return t


def plan_view(p: PlanOut) -> Group:
    head = Text.assemble(("Plan revision ", "bold"), (str(p.revision), "bold cyan"),
                         f", made {p.created_at.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    parts: list[Any] = [head, workloads_table(p)]
    if p.unplaced:
        parts.append(unplaced_table(p.unplaced))
    parts.extend([totals_text(p), resilience_text(p.resilience)])
    if (attested := attested_text(p.attested)) is not None:
        parts.append(attested)
    missing = [k for k, v in p.models.items() if v is None]
    if missing:
        parts.append(Text(f"not in the registry: {', '.join(missing)}", style="yellow"))
    return Group(*parts)


def models_table(rows: Sequence[ModelOut]) -> Table:
    t = table("Version", "Size", "Files", "Created", "Signed", "Aliases")
    for m in rows:
        t.add_row(m.ref, size(m.size), str(m.files), m.created[:19].replace("T", " "),
                  "yes" if m.signed else "no", ", ".join(m.aliases))
    return t


STATE_STYLE = {"active": "green", "synced": "cyan", "syncing": "yellow", "failed": "red", "pending": "dim"}


def _models(s: SiteStatus, wide: bool) -> Text:
    """Every model with its state (and error) under -o wide; else how many are active (and
    failed), so the table fits 80 columns (`describe site` and -o wide name them; the Sync
    column says how far the others are)."""
    models = Text()
    if not s.models:
        return Text("-", style="dim")
    if not wide:
        active = sum(m.state == "active" for m in s.models)
        failed = sum(m.state == "failed" for m in s.models)
        models.append(f"{active}/{len(s.models)} active", style="green" if active == len(s.models) else "yellow")
        if failed:
            models.append(f", {failed} failed", style="red")
        return models
    for i, m in enumerate(s.models):
        if i:
            models.append("\n")
        models.append(f"{m.ref} ")
        models.append(m.state, style=STATE_STYLE.get(m.state, ""))
        if m.error:
            models.append(f" ({m.error})", style="red")
    return models


def status_table(st: FleetStatus, wide: bool = False) -> Table:
    """Per site: heartbeat, models, replicas (run/ok/want), sync, health; -o wide adds the
    revision the site runs and the bytes it fetched, and names every model."""
    t = table(title=f"Fleet status, plan revision {st.revision}")
    cols = ("Site", "Heartbeat", "Rev", "Models", "Fetched", "Replicas", "Sync", "Health") if wide else \
        ("Site", "Heartbeat", "Models", "Replicas", "Sync", "Health")
    for col in cols:
        t.add_column(col, no_wrap=col in ("Site", "Heartbeat", "Models") and not wide)  # Health wraps first
    now = datetime.now(UTC)
    for s in st.sites:
        beat = Text(ago(s.last_heartbeat, now) + (" STALE" if s.stale else ""),
                    style="red" if s.stale else "green")
        r = s.replicas
        ok = r.running >= r.desired and r.healthy >= r.desired
        reps = Text(f"{r.running}/{r.healthy}/{r.desired}", style="green" if ok else "yellow")
        sync = "-" if s.sync_progress is None else f"{100 * s.sync_progress:.0f}%"
        extra = ["-" if s.revision is None else str(s.revision)] if wide else []
        fetched = [size(s.bytes_fetched)] if wide else []
        t.add_row(s.site, beat, *extra, _models(s, wide), *fetched, reps, sync, _health(s, now))
    if st.sites:
        t.caption = "Replicas: running/healthy/wanted; -o wide names the models"
    return t


def deferred_table(st: FleetStatus) -> Table:
    """Deferred jobs (issue 11): where and when each runs next, or why it is unscheduled."""
    t = table("Deferred job", "State", "Site", "SKU", "Replicas", "Next slot (UTC)",
              title="Deferred work")
    style = {"running": "green", "waiting": "cyan", "done": "dim", "unscheduled": "red"}
    for d in st.deferred:
        if d.state == "unscheduled":
            t.add_row(d.workload, Text("unscheduled", style="red"), "-", "-", "-",
                      Text(d.reason or "no reason recorded", style="red"))
            continue
        slot = (f"{format_time(d.next_start)} to {format_time(d.next_end)}"
                if d.next_start is not None and d.next_end is not None else "-")
        t.add_row(d.workload, Text(d.state, style=style.get(d.state, "")), d.site or "-", d.gpu_sku or "-",
                  str(d.replicas), slot)
    return t


def _health(s: SiteStatus, now: datetime) -> Text:
    """Availability (failover) and drift, in words."""
    if not s.available:
        since = f" since {ago(s.unavailable_since, now)}" if s.unavailable_since else ""
        return Text(f"UNAVAILABLE{since}: {s.unavailable_reason or 'no reason recorded'}", style="bold red")
    if s.drift:
        return Text(f"drift: {s.drift}", style="yellow")
    if s.inventory is not None and s.inventory.drift:
        return Text(f"hardware: {s.inventory.summary}", style="yellow")
    return Text("ok", style="green")


def audit_table(rows: Sequence[AuditEntry]) -> Table:
    t = table("ID", "At (UTC)", "Actor", "Action", "Target")
    for e in rows:
        t.add_row(str(e.id), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.target)
    return t


def events_table(rows: Sequence[EventOut]) -> Table:
    t = table("ID", "At (UTC)", "Kind", "Subject", "Message")
    style = {"site.down": "bold red", "site.up": "green", "rollout.wave_failed": "red", "rollout.rolled_back": "red"}
    for e in rows:
        t.add_row(str(e.id), e.at.strftime("%Y-%m-%d %H:%M:%S"), Text(e.kind, style=style.get(e.kind, "")),
                  e.subject, e.message)
    return t


def tokens_table(rows: Sequence[TokenOut]) -> Table:
    t = table("ID", "Role", "Site", "Created", "Expires", "Description")
    for k in rows:
        t.add_row(k.id, k.role, k.site or "-", k.created_at.strftime("%Y-%m-%d %H:%M"),
                  k.expires_at.strftime("%Y-%m-%d %H:%M") if k.expires_at else "never", k.description)
    return t
