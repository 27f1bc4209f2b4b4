"""`fleetyard describe site|workload NAME`: everything about one object, like `kubectl describe`.

    Spec        the resource as applied (YAML)
    Placement   workload: site, SKU and replicas per assignment, routes, and if (partly)
                unplaced the planner's reasons; site: what runs there, and GPUs, IT power
                and cooling used / free
    Status      heartbeat age, state (ok, stale, unavailable, drift), replicas run/ok/want
    Events      the newest events about it

All of it from the server (resource, plan, status, events: four GETs); `-o json|yaml`
prints the same sections as one document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import yaml
from rich.console import Group
from rich.table import Table
from rich.text import Text

from fleetyard.cli.attest_render import inventory_lines
from fleetyard.cli.common import console, did_you_mean, fail
from fleetyard.cli.output import emit, structured
from fleetyard.cli.server_cmd import DEFAULT_SERVER, ServerOpt, TokenOpt, _api
from fleetyard.cli.server_render import ago
from fleetyard.services.client import ApiError, Client
from fleetyard.services.wire import FleetStatus, InventoryStatus, PlanOut, SiteStatus

__all__ = ["EVENTS", "describe", "describe_data", "register"]

EVENTS = 10  # newest events shown
KINDS = {"site": "sites", "sites": "sites", "workload": "workloads", "workloads": "workloads"}
OUTPUTS = ("table", "wide", "json", "yaml")


def register(app: typer.Typer) -> None:
    app.command("describe")(describe)


def describe(
    kind: Annotated[str, typer.Argument(help="site or workload.", show_default=False)],
    name: Annotated[str, typer.Argument(help="Its name.", show_default=False)],
    server: ServerOpt = DEFAULT_SERVER,
    token: TokenOpt = None,
    output: Annotated[str, typer.Option("--format", "-o", help="Output: table, json or yaml.")] = "table",
) -> None:
    """Spec, placement with its reasons, status and recent events of one site or workload."""
    if kind not in KINDS:
        fail(f"cannot describe {kind!r}: expected site or workload{did_you_mean(kind, ['site', 'workload'])}")
    if output not in OUTPUTS:
        fail(f"--format: expected one of {', '.join(OUTPUTS)}, got {output!r}{did_you_mean(output, OUTPUTS)}")
    with _api(server, token) as api:
        data = describe_data(api, KINDS[kind], name)
    if structured(output):
        emit(data, output)
    else:
        console.print(describe_view(data))


def _resource(api: Client, plural: str, name: str) -> dict[str, Any]:
    try:
        return api.resource(plural, name).document
    except ApiError as exc:
        if exc.status != 404:
            raise
        names = [r.name for r in api.resources(plural)]
        fail(f"no {plural[:-1]} named {name!r}{did_you_mean(name, names)}"
             + ("" if names else f" (no {plural} applied yet)"))


def _plan(api: Client) -> PlanOut | None:
    try:
        return api.plan()
    except ApiError as exc:
        if exc.status != 404:
            raise
        return None


def describe_data(api: Client, plural: str, name: str) -> dict[str, Any]:
    """The sections of one object as plain data (what `-o json|yaml` prints)."""
    document = _resource(api, plural, name)
    plan = _plan(api)
    st = api.status()
    events = [{"id": e.id, "at": e.at.isoformat(), "kind": e.kind, "message": e.message}
              for e in api.events(subject=name, limit=EVENTS)]
    kind = "Workload" if plural == "workloads" else "Site"
    placement = _workload_placement(plan, name) if kind == "Workload" else _site_placement(plan, name)
    status = _workload_status(st, name) if kind == "Workload" else _site_status(st, name)
    return {"kind": kind, "name": name, "plan_revision": plan.revision if plan else None,
            "spec": document, "placement": placement, "status": status, "events": events}


def _workload_placement(plan: PlanOut | None, name: str) -> dict[str, Any]:
    if plan is None:
        return {"state": "no plan yet"}
    rows = [{"site": a.site, "gpu_sku": a.gpu_sku, "replicas": a.replicas} for a in plan.assignments
            if a.workload == name]
    short = next((u for u in plan.unplaced if u.workload == name), None)
    summary = next((w for w in plan.workloads if w.workload == name), None)
    return {"state": "unplaced" if not rows else "partly placed" if short else "placed",
            "replicas": sum(r["replicas"] for r in rows), "assignments": rows,
            "why": summary.why if summary else "",
            "routes": [{"region": r.region, "site": r.site, "rps": r.rps, "latency_ms": r.latency_ms}
                       for r in plan.routes if r.workload == name],
            "unplaced": ({"replicas": short.replicas, "reasons": short.reasons, "unserved_rps": short.unserved}
                         if short else None)}


def _site_placement(plan: PlanOut | None, name: str) -> dict[str, Any]:
    if plan is None:
        return {"state": "no plan yet"}
    usage = next((s for s in plan.sites if s.site == name), None)
    runs = [{"workload": a.workload, "gpu_sku": a.gpu_sku, "replicas": a.replicas} for a in plan.assignments
            if a.site == name]
    capacity: dict[str, Any] = {}
    if usage is not None:
        skus = sorted(set(usage.gpus_total) | set(usage.gpus_used))
        capacity = {
            "gpus": {k: {"used": usage.gpus_used.get(k, 0), "total": usage.gpus_total.get(k, 0),
                         "free": usage.gpus_total.get(k, 0) - usage.gpus_used.get(k, 0)} for k in skus},
            "it_kw": {"used": usage.it_kw, "total": usage.it_capacity_kw,
                      "free": round(usage.it_capacity_kw - usage.it_kw, 3)},
            "cooling_kw": {"used": usage.it_kw, "total": usage.cooling_kw,
                           "free": round(usage.cooling_kw - usage.it_kw, 3)},
            "cost_per_hour": usage.cost_per_hour, "carbon_kg_per_hour": usage.carbon_kg_per_hour}
    return {"state": "in use" if runs else "idle", "workloads": runs, "capacity": capacity}


def _state(s: SiteStatus) -> str:
    if not s.available:
        return "unavailable" + (f": {s.unavailable_reason}" if s.unavailable_reason else "")
    if s.stale:
        return "stale (no heartbeat for 3 intervals)"
    return f"drift: {s.drift}" if s.drift else "ok"


def _heartbeat(s: SiteStatus) -> dict[str, Any]:
    age = (datetime.now(UTC) - s.last_heartbeat).total_seconds() if s.last_heartbeat else None
    return {"last_heartbeat": s.last_heartbeat.isoformat() if s.last_heartbeat else None,
            "heartbeat_age_s": None if age is None else round(max(0.0, age), 1)}


def _site_status(st: FleetStatus, name: str) -> dict[str, Any]:
    s = next((x for x in st.sites if x.site == name), None)
    if s is None or s.last_heartbeat is None:
        return {"state": "never reported (no agent has sent a heartbeat)", "last_heartbeat": None}
    return {"state": _state(s), **_heartbeat(s), "revision": s.revision, "agent_version": s.agent_version,
            "replicas": s.replicas.model_dump(), "models": {m.ref: m.state for m in s.models},
            "inventory": s.inventory.model_dump(mode="json") if s.inventory else None}


def _workload_status(st: FleetStatus, name: str) -> dict[str, Any]:
    sites = []
    for s in st.sites:
        for w in s.workloads:
            if w.name == name:
                sites.append({"site": s.site, "state": _state(s), **_heartbeat(s), "model": w.model,
                              **w.replicas.model_dump(), "error": w.error})
    total = {k: sum(x[k] for x in sites) for k in ("desired", "running", "healthy")}
    return {"replicas": total, "sites": sites}


# ---- the table view --------------------------------------------------------------------

def _section(title: str) -> Text:
    return Text(f"\n{title}:", style="bold")


def describe_view(d: dict[str, Any]) -> Group:
    """Sections as `kubectl describe` prints them: Name, Spec, Placement, Status, Events."""
    rev = d["plan_revision"]
    parts: list[Any] = [Text.assemble(("Name:  ", "bold"), d["name"]),
                        Text.assemble(("Kind:  ", "bold"), d["kind"], f"   plan revision {rev if rev else '-'}"),
                        _section("Spec"),
                        Text(yaml.safe_dump(d["spec"].get("spec", {}), sort_keys=False).rstrip())]
    p = d["placement"]
    parts.append(_section("Placement"))
    parts.append(Text(f"  {p['state']}" + (f" - {p['why']}" if p.get("why") else "")))
    if d["kind"] == "Workload":
        parts += _workload_view(p, d["status"])
    else:
        parts += _site_view(p, d["status"])
    parts.append(_section("Events"))
    if not d["events"]:
        parts.append(Text("  <none>", style="dim"))
    for e in d["events"]:
        parts.append(Text(f"  {e['at'][:19]}  {e['kind']:<18} {e['message']}"))
    return Group(*parts)


def _table(*cols: str) -> Table:
    t = Table(box=None, padding=(0, 2))
    for c in cols:
        t.add_column(c)
    return t


def _workload_view(p: dict[str, Any], st: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    if p.get("assignments"):
        t = _table("Site", "SKU", "Replicas")
        for a in p["assignments"]:
            t.add_row(a["site"], a["gpu_sku"], str(a["replicas"]))
        out.append(t)
    short = p.get("unplaced")
    if short:
        out.append(Text(f"  Unplaced: {short['replicas']} replica(s)", style="red"))
        out += [Text(f"    - {r}") for r in short["reasons"]]
    out.append(_section("Status"))
    r = st["replicas"]
    out.append(Text(f"  Replicas: {r['running']} running, {r['healthy']} healthy, {r['desired']} desired"))
    if st["sites"]:
        t = _table("Site", "State", "Heartbeat", "Model", "Run/Ok/Want")
        now = datetime.now(UTC)
        for s in st["sites"]:
            beat = ago(datetime.fromisoformat(s["last_heartbeat"]), now) if s["last_heartbeat"] else "-"
            t.add_row(s["site"], s["state"], beat, s["model"], f"{s['running']}/{s['healthy']}/{s['desired']}")
        out.append(t)
    else:
        out.append(Text("  no site reports it running", style="dim"))
    return out


def _site_view(p: dict[str, Any], st: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    if p.get("workloads"):
        t = _table("Workload", "SKU", "Replicas")
        for w in p["workloads"]:
            t.add_row(w["workload"], w["gpu_sku"], str(w["replicas"]))
        out.append(t)
    cap = p.get("capacity") or {}
    if cap:
        t = _table("Capacity", "Used", "Total", "Free")
        for sku, g in cap["gpus"].items():
            t.add_row(f"GPU {sku}", str(g["used"]), str(g["total"]), str(g["free"]))
        for key, label in (("it_kw", "IT power kW"), ("cooling_kw", "Cooling kW")):
            t.add_row(label, f"{cap[key]['used']:g}", f"{cap[key]['total']:g}", f"{cap[key]['free']:g}")
        out.append(t)
    out.append(_section("Status"))
    out.append(Text(f"  State: {st['state']}"))
    if st.get("last_heartbeat"):
        now = datetime.now(UTC)
        out.append(Text(f"  Heartbeat: {ago(datetime.fromisoformat(st['last_heartbeat']), now)} "
                        f"(revision {st['revision']}, agent {st['agent_version'] or '-'})"))
        r = st["replicas"]
        out.append(Text(f"  Replicas: {r['running']} running, {r['healthy']} healthy, {r['desired']} desired"))
        for ref, state in st["models"].items():
            out.append(Text(f"  Model {ref}: {state}"))
        inv = st.get("inventory")
        out += inventory_lines(InventoryStatus.model_validate(inv) if inv else None)
    return out
