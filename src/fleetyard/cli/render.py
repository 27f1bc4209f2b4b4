"""Rich tables for plans, explanations and what-if results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from fleetyard.cli.output import table
from fleetyard.spec.plan import Plan, ResilienceEntry, Unplaced

if TYPE_CHECKING:  # the solver and the fleet model load only for commands that use them
    from fleetyard.placement.explain import SiteExplanation
    from fleetyard.spec.fleet import Fleet


def money(v: float) -> str:
    return f"${v:,.2f}"


def _pct(used: float, cap: float) -> str:
    return f"{100 * used / cap:.0f}%" if cap > 0 else "-"


def plan_header(plan: Plan, fleet: Fleet, source: str) -> Text:
    s = plan.solver
    engine = "greedy baseline" if s.strategy == "greedy" else f"optimizer ({s.solver}, {s.status})"
    return Text.assemble(
        ("Plan ", "bold"), (source, "bold cyan"),
        f": {len(fleet.sites)} sites, {len(fleet.workloads) - len(plan.deferred)} workloads"
        + (f", {len(plan.deferred)} deferred" if plan.deferred else "") + f" - {engine}, {s.seconds:.2f} s",
    )


NAME: dict[str, Any] = {"style": "bold", "no_wrap": True}
RIGHT: dict[str, Any] = {"justify": "right", "no_wrap": True}


def workloads_table(plan: Plan, wide: bool = False) -> Table:
    """WORKLOAD, REPLICAS, PLACEMENT (and TYPE, PRIORITY, WHY with -o wide): 80 columns by default."""
    cols: list[tuple[str, dict[str, Any]]] = [("WORKLOAD", NAME)]
    if wide:
        cols += [("TYPE", {"no_wrap": True}), ("PRIO", RIGHT)]
    cols += [("REPLICAS", RIGHT), ("PLACEMENT", {})]
    if wide:
        cols.append(("WHY", {"style": "dim"}))
    t = table(*cols, title="Workloads")
    short = {u.workload for u in plan.unplaced}
    for w in plan.workloads:
        name = Text(w.workload, style="bold red" if w.workload in short else "bold")
        row: list[Any] = [name]
        if wide:
            row += [w.type, str(w.priority)]
        row += [str(w.replicas), w.placed]
        if wide:
            row.append(w.why)
        t.add_row(*row)
    return t


def unplaced_table(unplaced: Sequence[Unplaced], title: str = "Unplaced and unserved") -> Table:
    t = table(("WORKLOAD", NAME), ("REPLICAS", RIGHT), "UNSERVED RPS", "REASONS", title=title,
              title_style="bold red")
    for u in unplaced:
        unserved = ", ".join(f"{r} {v:g}" for r, v in u.unserved.items()) or "-"
        t.add_row(u.workload, str(u.replicas), unserved, "\n".join(f"- {r}" for r in u.reasons))
    return t


def sites_table(plan: Plan, fleet: Fleet, wide: bool = False) -> Table:
    """SITE, GPUS used/total, IT KW, POWER, $/H, LOSS (and TYPE, CC, COOLING, CO2 with -o wide)."""
    cols: list[tuple[str, dict[str, Any]]] = [("SITE", NAME)]
    if wide:
        cols += [("TYPE", {"no_wrap": True}), ("CC", {"no_wrap": True})]
    cols += [("GPUS USED/TOTAL", {}), ("IT KW", RIGHT), ("POWER", RIGHT)]
    if wide:
        cols += [("COOLING", RIGHT)]
    cols += [("$/H", RIGHT)]
    if wide:
        cols += [("KG CO2/H", RIGHT)]
    cols += [("LOSS", {})]
    t = table(*cols, title="Sites")
    res = {r.failed_site: r for r in plan.resilience}
    for s in plan.sites:
        spec = fleet.sites[s.site].spec
        gpus = ", ".join(f"{sku} {s.gpus_used.get(sku, 0)}/{n}" for sku, n in s.gpus_total.items())
        entry = res.get(s.site)
        if entry is None:
            loss = Text("-", style="dim")
        elif entry.absorbable:
            loss = Text("absorbable", style="green")
        else:
            loss = Text(f"NOT absorbable ({', '.join(u.workload for u in entry.unplaced[:2])}"
                        f"{', ...' if len(entry.unplaced) > 2 else ''})", style="red")
        row: list[Any] = [s.site]
        if wide:
            row += [spec.type, spec.country]
        row += [gpus, f"{s.it_kw:.1f}", _pct(s.it_kw, s.it_capacity_kw)]
        if wide:
            row.append(_pct(s.it_kw, s.cooling_kw))
        row.append(money(s.cost_per_hour))
        if wide:
            row.append(f"{s.carbon_kg_per_hour:.1f}")
        row.append(loss if wide or entry is None or entry.absorbable else Text("NOT absorbable", style="red"))
        t.add_row(*row)
    return t


def totals_text(plan: Plan) -> Text:
    t = plan.totals
    b = plan.bound
    served = f"{t.served_rps:,.0f}/{t.demand_rps:,.0f} rps served" if t.demand_rps else "no inference demand"
    lines: list[str | tuple[str, str]] = [
        ("Totals  ", "bold"),
        (f"{money(t.cost_per_hour)}/h", "bold green"),
        f" (GPU rent {money(t.gpu_rent_per_hour)}, energy {money(t.energy_per_hour)}, "
        f"carbon {money(t.carbon_cost_per_hour)}, egress {money(t.egress_per_hour)})  ",
        f"{t.power_kw:,.1f} kW facility ({t.it_kw:,.1f} kW IT)  {t.carbon_kg_per_hour:,.1f} kg CO2/h  "
        f"{t.gpus_used} GPUs  {t.replicas_placed} replicas placed, {t.replicas_unplaced} unplaced  {served}\n",
        ("Bound   ", "bold"),
    ]
    if plan.solver.strategy == "greedy":
        lines.append("none (the greedy baseline proves no bound)")
    else:
        lines.append(f"cost >= {money(b.cost_per_hour_lower_bound)}/h, gap {100 * b.gap:.2f}%  ")
        for st in b.stages:
            if st.stage == "service":
                lines.append(f"\n  service: {st.value:,.0f} of {st.demand:,.0f} priority-weighted GPU demand served, "
                             f"<= {st.bound:,.0f} proven (gap {100 * st.gap:.2f}%, {st.status})")
            else:
                lines.append(f"\n  cost:    {money(st.value)}/h, >= {money(st.bound)}/h proven for that service "
                             f"(gap {100 * st.gap:.2f}%, {st.status})")
        if b.stages:
            lines.append("\n  ")
        if b.shortfall_penalty_per_hour > 0:
            lines.append(f"(work left short: cost + shortfall penalty {money(b.shortfall_penalty_per_hour)}/h "
                         f"proven within {100 * b.objective_gap:.2f}%)  ")
        lines.append((f"({b.method})", "dim"))
    return Text.assemble(*lines)


def burst_text(plan: Plan) -> Text:
    """One line on burst spend against its caps (only when the Objective sets a cap)."""
    b = plan.burst
    if b is None or (b.cap_per_hour is None and not any(t.cap_per_hour is not None for t in b.by_team.values())):
        return Text("")
    fleet_cap = f" of a {money(b.cap_per_hour)}/h cap" if b.cap_per_hour is not None else ""
    teams = ", ".join(f"{team} {money(t.spend_per_hour)}/h of {money(t.cap_per_hour)}/h"
                      for team, t in b.by_team.items() if t.cap_per_hour is not None)
    parts: list[str | tuple[str, str]] = [
        ("Burst   ", "bold"),
        f"{money(b.spend_per_hour)}/h on burst sites ({', '.join(b.burst_site_types)}){fleet_cap}",
    ]
    if teams:
        parts.append(f"; by team: {teams}")
    if b.capped:
        parts.append((f"; capped: {', '.join(b.capped)}", "red"))
    return Text.assemble(*parts)


def resilience_text(entries: Sequence[ResilienceEntry]) -> Text:
    bad = [e for e in entries if not e.absorbable]
    if not entries:
        return Text("")
    if not bad:
        return Text(f"Resilience: the loss of any one of the {len(entries)} sites is absorbable.", style="green")
    return Text.assemble(
        ("Resilience: ", "bold"),
        (f"{len(bad)} of {len(entries)} sites cannot be lost without leaving work unserved: ", "red"),
        ", ".join(e.failed_site for e in bad),
        ("  (fleetyard whatif DIR --fail SITE shows what moves)", "dim"),
    )


def render_plan(console: Console, plan: Plan, fleet: Fleet, source: str, wide: bool = False) -> None:
    """The plan as tables: 80 columns by default, every column with `wide` (-o wide)."""
    parts: list[object] = [plan_header(plan, fleet, source), workloads_table(plan, wide)]
    if plan.unplaced:
        parts.append(unplaced_table(plan.unplaced))
    parts.extend([sites_table(plan, fleet, wide), totals_text(plan), burst_text(plan),
                  resilience_text(plan.resilience)])
    if plan.deferred:
        parts.append(Text(f"Deferred (a schedule; see `fleetyard schedule`): {', '.join(plan.deferred)}"))
    for note in plan.solver.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    console.print(Group(*parts))  # type: ignore[arg-type]


def explanation_table(rows: Sequence[SiteExplanation], wide: bool = False) -> Table:
    """SITE, VERDICT, SKU, $/H per replica, WHY (and KG CO2/H, LATENCY with -o wide)."""
    cols: list[tuple[str, dict[str, Any]]] = [("SITE", NAME), ("VERDICT", {"no_wrap": True}), ("SKU", {}),
                                              ("$/H", RIGHT)]
    if wide:
        cols += [("KG CO2/H", RIGHT), ("LATENCY", {})]
    cols.append(("WHY", {}))
    t = table(*cols, title="Every site")
    style = {"chosen": "bold green", "not chosen": "yellow", "rejected": "red"}
    order = {"chosen": 0, "not chosen": 1, "rejected": 2}
    for r in sorted(rows, key=lambda r: (order[r.verdict], r.cost_per_replica or 0.0, r.site)):
        sku = ", ".join(f"{k} x{n}" for k, n in r.replicas.items()) if r.replicas else (r.sku or "-")
        lat = ", ".join(f"{g} {v:.1f} ms" for g, v in r.latency_ms.items()) or "-"
        row: list[Any] = [r.site, Text(r.verdict, style=style[r.verdict]), sku,
                          money(r.cost_per_replica) if r.cost_per_replica is not None else "-"]
        if wide:
            row += [f"{r.carbon_kg_per_replica:.2f}" if r.carbon_kg_per_replica is not None else "-", lat]
        row.append("\n".join(f"- {m}" for m in r.reasons))
        t.add_row(*row)
    return t
