"""`fleetyard tco`: what a year and a delivered GPU-hour of the planned load cost, owned or rented.

Plans the fleet's always-on work (the optimizer by default; `--strategy greedy` for the
quick baseline), prices that load as own small data centres, colocation, edge nodes and
a hyperscaler on demand or committed (`energy.tco`, inputs from the fleet's CostModel),
and prints one table of cost per year and one of cost per delivered GPU-hour with the
break-even utilizations; `--chart` writes the same as a picture (docs/tco.md).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from fleetyard.cli.common import Format, console, did_you_mean, fail, load_or_exit
from fleetyard.cli.output import emit, structured, table
from fleetyard.cli.render import money
from fleetyard.energy.tco import HYPERSCALER, LINES, BreakEven, Comparison, compare, report
from fleetyard.energy.tco_load import TcoInputError, planned_load
from fleetyard.placement import STRATEGIES, Planner, PlanOptions
from fleetyard.spec.quantities import MAX_YEARS

Paths = Annotated[list[Path], typer.Argument(help="Fleet spec files or folders (every *.yaml/*.yml).",
                                             show_default=False)]


def register(app: typer.Typer) -> None:
    app.command("tco")(tco)


def tco(
    paths: Paths,
    years: Annotated[int | None, typer.Option("--years", min=1, max=MAX_YEARS, show_default=False, help=(
        "Amortization of the hardware, years (default: the CostModel's, 4)."))] = None,
    utilization: Annotated[float | None, typer.Option("--utilization", min=0.01, max=1.0, show_default=False,
                                                      help=("Share of hours the GPUs do useful work "
                                                            "(default: from the plan, see docs/tco.md)."))] = None,
    output: Annotated[Format, typer.Option("--format", "-o", help="Output: table, wide, json or yaml.")] = Format.table,
    chart: Annotated[Path | None, typer.Option("--chart", show_default=False,
                                               help="Also draw the comparison to this .svg or .png file.")] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help=(
        f"How the load is planned, one of: {', '.join(STRATEGIES)}."))] = "optimizer",
) -> None:
    """Compare owning, colocation, edge and a hyperscaler for the fleet's planned load."""
    if strategy not in STRATEGIES:
        hint = did_you_mean(strategy, STRATEGIES)
        fail(f"--strategy: expected one of {', '.join(STRATEGIES)}, got '{strategy}'{hint}")
    if chart is not None:
        from fleetyard.cli.tco_chart import chart_format
        if chart_format(chart) is None:
            fail(f"--chart: expected a file ending in .svg or .png, got '{chart}'")
        if not chart.parent.is_dir():
            fail(f"--chart: no such folder '{chart.parent}'")
    fleet = load_or_exit(paths)
    if years is not None:
        spec = fleet.cost_model.spec.model_copy(update={"years": years})
        fleet = replace(fleet, cost_model=fleet.cost_model.model_copy(update={"spec": spec}))
    plan = Planner(fleet).plan(PlanOptions(strategy=strategy, resilience=False, explain=False))
    try:
        comparison = compare(planned_load(fleet, plan, utilization), fleet.cost_model.spec)
    except TcoInputError as exc:
        fail(str(exc))
    source = ", ".join(str(p) for p in paths)
    if chart is not None:
        from fleetyard.cli.tco_chart import write_chart
        write_chart(comparison, chart, f"TCO of {source}: {comparison.load.total_gpus} GPUs, "
                                       f"{fleet.cost_model.spec.years}-year hardware")
    if structured(output):
        emit(json.dumps(report(comparison)), output)
        return
    console.print(_header(comparison, source, strategy))
    console.print(annual_table(comparison))
    console.print(per_hour_table(comparison))
    if chart is not None:
        console.print(f"chart written to {chart}", highlight=False)


def _header(c: Comparison, source: str, strategy: str) -> Text:
    load, m = c.load, c.model
    gpus = ", ".join(f"{sku} {n}" for sku, n in load.gpus.items())
    lines: list[str | tuple[str, str]] = [
        ("TCO ", "bold"), (source, "bold cyan"),
        f": the planned load ({strategy}) of {load.total_gpus} GPUs ({gpus}), {load.it_kw:,.1f} kW IT, "
        f"{load.sites} sites\n",
        f"hardware over {m.years} years, facilities over {m.owned.facility_years}, cost of capital "
        f"{m.cost_of_capital:.1%}\n",
    ]
    lines.extend(f"- {note}\n" for note in load.notes)
    return Text.assemble(*lines)


def annual_table(c: Comparison) -> Table:
    load = c.load
    t = table(title=f"Cost per year at {load.utilization:.0%} utilization")
    t.add_column("Option", style="bold")
    t.add_column("Sites", justify="right")
    for name in ("Capex/yr", *(n.capitalize() for n in LINES if n != "capex"), "Total/yr"):
        t.add_column(name, justify="right")
    for o in c.options:
        cells = [money(o.line(name, load)) for name in LINES]
        t.add_row(o.label, str(o.sites) if o.name not in HYPERSCALER else "-", *cells,
                  Text(money(o.per_year(load)), style="bold"))
    return t


def _break_even(be: BreakEven) -> Text:
    if be.utilization is None:
        return Text("never", style="red")
    if not be.pays:
        return Text(f"{be.utilization:.0%} (never)", style="red")
    return Text(f"{be.utilization:.0%}", style="green")


def per_hour_table(c: Comparison) -> Table:
    load = c.load
    t = table(title="Per delivered GPU-hour; break-even: the utilization above which owning beats renting")
    for col, kw in (("Option", {"style": "bold"}), ("$/GPU-h", {"justify": "right"}),
                    ("Fixed/yr", {"justify": "right"}), ("Variable $/used GPU-h", {"justify": "right"}),
                    ("Break-even vs on-demand", {"justify": "right"}),
                    ("vs committed", {"justify": "right"})):
        t.add_column(col, **kw)  # type: ignore[arg-type]
    for o in c.options:
        be = c.break_even.get(o.name)
        t.add_row(o.label, money(o.per_delivered_gpu_hour(load)), money(o.fixed), money(o.variable),
                  *((_break_even(be[0]), _break_even(be[1])) if be else (Text("-", style="dim"),) * 2))
    return t
