"""The showback table and CSV of an `Allocation`."""

from __future__ import annotations

import csv
import io

from rich.table import Table

from fleetyard.cli.output import table
from fleetyard.cli.render import money
from fleetyard.spec.allocation import Allocation, Amounts
from fleetyard.spec.trace import format_time

__all__ = ["CSV_COLUMNS", "allocation_csv", "allocation_table"]

CSV_COLUMNS = ("key", "gpu_hours", "replica_hours", "it_kwh", "kwh", "carbon_kg", "gpu_rent", "energy_cost",
               "carbon_cost", "egress_cost", "egress_gb", "cost", "share")


def _title(a: Allocation) -> str:
    hours = (a.period.end - a.period.start).total_seconds() / 3600
    span = (f"{hours / 24:g} day{'s' if hours != 24 else ''}" if hours % 24 == 0 else f"{hours:g} h")
    source = "the plan's rates every hour" if a.source == "plan" else "what ran"
    return (f"Cost by {a.by}, {format_time(a.period.start)} to {format_time(a.period.end)} "
            f"({span}, {source}, {a.currency})")


def _usd(v: float) -> str:
    """Whole dollars from $1,000 up (a month of a fleet is thousands), cents below."""
    return money(v) if abs(v) < 1000 else f"${v:,.0f}"


def _cells(key: str, v: Amounts, share: str) -> list[str]:
    return [key, f"{v.gpu_hours:,.0f}", f"{v.kwh:,.0f}", f"{v.carbon_kg:,.0f}", _usd(v.gpu_rent),
            _usd(v.energy_cost), _usd(v.carbon_cost), _usd(v.egress_cost), _usd(v.cost), share]


def allocation_table(a: Allocation) -> Table:
    t = table(title=_title(a))
    label = a.by.removeprefix("label:") if a.by.startswith("label:") else a.by.capitalize()
    widest = max([len(r.key) for r in a.rows] + [len(label), 5])
    t.add_column(label, style="bold", min_width=min(widest, 12), no_wrap=True)
    for col in ("GPU-h", "kWh", "kg CO2", "GPU rent", "Energy", "Carbon", "Egress", "Cost", "Share"):
        t.add_column(col, justify="right")
    for r in a.rows:
        t.add_row(*_cells(r.key, r, f"{100 * r.share:.1f}%"))
    t.add_section()
    t.add_row(*_cells("Total", a.totals, "100.0%" if a.totals.cost else "-"), style="bold")
    return t


def allocation_csv(a: Allocation) -> str:
    """One row per key (no totals row: they are the column sums), full precision."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in a.rows:
        w.writerow([r.key, *(repr(float(getattr(r, c))) for c in CSV_COLUMNS[1:])])
    return out.getvalue()
