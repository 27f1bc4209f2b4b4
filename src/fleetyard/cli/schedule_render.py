"""Rich tables for `fleetyard schedule`: each job beside its run-now baseline, totals, savings, bound."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from fleetyard.cli.output import table
from fleetyard.cli.render import money
from fleetyard.spec.timeplan import Schedule, ScheduledJob, Unscheduled


def _short(t: str) -> str:
    """2020-06-01T18:00:00Z -> 06-01 18:00 (the table is wide enough as it is)."""
    return f"{t[5:10]} {t[11:16]}" if len(t) >= 16 else t


def _span(job: ScheduledJob) -> tuple[str, str]:
    if not job.slots:
        return "-", "-"
    return _short(job.slots[0].start), _short(job.slots[-1].end)


def jobs_table(s: Schedule) -> Table:
    t = table(title="Schedule")
    for col, kw in (("Workload", {"style": "bold"}), ("Site", {}), ("SKU", {}), ("Repl.", {"justify": "right"}),
                    ("Start", {}), ("End", {}), ("Runs", {"justify": "right"}), ("kWh", {"justify": "right"}),
                    ("kg CO2", {"justify": "right"}), ("Cost", {"justify": "right"}),
                    ("Run now: start", {"style": "dim"}), ("site", {"style": "dim"}),
                    ("kg CO2", {"style": "dim", "justify": "right"}), ("cost", {"style": "dim", "justify": "right"})):
        t.add_column(col, **kw)  # type: ignore[arg-type]
    base = {j.workload: j for j in s.baseline.jobs}
    for j in s.jobs:
        start, end = _span(j)
        b = base.get(j.workload)
        bcols = [_span(b)[0], b.site, f"{b.carbon_kg:,.1f}", money(b.cost)] if b else ["-", "-", "-", "-"]
        t.add_row(j.workload, j.site, j.gpu_sku, str(j.replicas), start, end, str(len(j.slots)),
                  f"{j.kwh:,.1f}", f"{j.carbon_kg:,.1f}", money(j.cost), *bcols)
    return t


def unscheduled_table(items: list[Unscheduled], title: str = "Unscheduled") -> Table:
    t = table(title=title, title_style="bold red")
    t.add_column("Workload", style="bold")
    t.add_column("Reasons")
    for u in items:
        t.add_row(u.workload, "\n".join(f"- {r}" for r in u.reasons))
    return t


def summary_text(s: Schedule) -> Text:
    tot, base = s.totals, s.baseline.totals
    parts: list[str | tuple[str, str]] = [
        ("Totals  ", "bold"), (f"{money(tot.cost)}", "bold green"),
        f" (GPU rent {money(tot.gpu_rent)}, energy {money(tot.energy_cost)}, carbon {money(tot.carbon_cost)}, "
        f"egress {money(tot.egress_cost)})  {tot.kwh:,.1f} kWh  {tot.carbon_kg:,.1f} kg CO2  {tot.jobs} jobs\n",
        ("Run now ", "bold"),
        f"{money(base.cost)}  {base.kwh:,.1f} kWh  {base.carbon_kg:,.1f} kg CO2  {base.jobs} jobs\n",
    ]
    if s.savings is not None:
        sv = s.savings
        parts += [("Savings ", "bold"),
                  (f"{sv.carbon_kg:,.1f} kg CO2 ({sv.carbon_pct:.1f}%), {money(sv.cost)} ({sv.cost_pct:.1f}%)\n",
                   "green" if sv.carbon_kg >= 0 and sv.cost >= 0 else "yellow")]
    if s.bound is not None:
        b = s.bound
        unit = "kg CO2 (+1e-6 x $)" if b.objective == "carbon" else "$"
        parts += [("Bound   ", "bold"),
                  f"{b.objective}: {b.value:,.4f} {unit}, >= {b.bound:,.4f} proven, gap {100 * b.gap:.3f}% "
                  f"({b.status}, {b.seconds:.2f} s)  ", (f"({b.method})", "dim")]
    return Text.assemble(*parts)


def render_schedule(console: Console, s: Schedule, source: str) -> None:
    head = Text.assemble(("Schedule ", "bold"), (source, "bold cyan"),
                         f": {s.start} to {s.end} in {s.slot_h:g} h slots, objective {s.objective}")
    parts: list[object] = [head, jobs_table(s)]
    if s.unscheduled:
        parts.append(unscheduled_table(s.unscheduled))
    parts.append(summary_text(s))
    for note in s.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    console.print(Group(*parts))  # type: ignore[arg-type]
