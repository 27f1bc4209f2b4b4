"""`fleetyard cost`: showback - who spends what, by team, label, site or workload.

    fleetyard cost DIR... [--by team|label:KEY|site|workload] [--period 30d] [--start T]
                   [--extend none|repeat-daily] [--format table|json|csv|focus] [--output FILE]
    fleetyard cost --server URL [--token T] [--by ...] [--period 30d] [--start T] [--format table|json|csv]

On files, the fleet is planned and its assignments run every hour of the period, each hour
priced at the sites' traces (source "plan"); `--start` defaults to the start of the period
every trace covers (the latest trace start, rounded up to the hour), or to now minus the
period when no site has a trace. Against a server, the server allocates what the agents
reported running (source "recorded"; `GET /api/v1/cost`). `--format focus` writes a FinOps
FOCUS 1.0 dataset (files only). Formulas and columns: docs/cost.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.common import console, fail, load_or_exit
from fleetyard.cli.contexts import connection_or_exit
from fleetyard.cli.cost_render import allocation_csv, allocation_table
from fleetyard.cli.plan_time import ExtendChoice, ExtendOpt, parse_at
from fleetyard.cli.server_cmd import TokenOpt, _api
from fleetyard.energy.allocation import allocate_priced, check_by, parse_period, plan_usage
from fleetyard.energy.focus import write_focus
from fleetyard.energy.pricing import Priced, price_usage
from fleetyard.energy.timeline import TraceGap, check_coverage
from fleetyard.energy.usage import hour_floor
from fleetyard.placement import Planner, PlanOptions
from fleetyard.spec.allocation import Allocation
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.trace import format_time

__all__ = ["register"]


class CostFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    focus = "focus"


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)


def default_start(fleet: Fleet, period: timedelta, now: datetime | None = None) -> datetime:
    """The latest trace start rounded up to the hour; without traces, now minus the period."""
    if not fleet.traces:
        return hour_floor((now or datetime.now(UTC)) - period)
    latest = max(t.start for t in fleet.traces.values())
    floor = hour_floor(latest)
    return floor if floor == latest else floor + timedelta(hours=1)


def _write(text_or_writer: str | Priced, output_file: Path | None, fleet: Fleet | None = None) -> None:
    """To stdout, or to FILE through a temporary file renamed at the end (nothing half-written)."""
    if output_file is None:
        if isinstance(text_or_writer, str):
            sys.stdout.write(text_or_writer)
        else:
            assert fleet is not None
            write_focus(fleet, text_or_writer, sys.stdout)
        sys.stdout.flush()
        return
    folder = output_file.parent if str(output_file.parent) else Path(".")
    if not folder.is_dir():
        fail(f"--output: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{output_file.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if isinstance(text_or_writer, str):
                f.write(text_or_writer)
            else:
                assert fleet is not None
                write_focus(fleet, text_or_writer, f)
        os.replace(tmp, output_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _show(a: Allocation, output: CostFormat, output_file: Path | None) -> None:
    if output is CostFormat.json:
        _write(a.model_dump_json(indent=2) + "\n", output_file)
    elif output is CostFormat.csv:
        _write(allocation_csv(a), output_file)
    else:
        console.print(allocation_table(a))
        for note in a.notes:
            console.print(f"note: {note}", style="yellow", highlight=False)


def _from_files(paths: list[Path], by: str, period: timedelta, period_text: str, start: str | None,
                extend: ExtendChoice) -> tuple[Fleet, Priced, Allocation]:
    fleet = load_or_exit(paths)
    t0 = hour_floor(parse_at(start, "--start")) if start is not None else default_start(fleet, period)
    if extend is ExtendChoice.none:
        gaps = check_coverage(fleet, t0, t0 + period)
        if gaps:
            fail(f"period {period_text.strip()} from {format_time(t0)}: " + "; ".join(str(g) for g in gaps))
    plan = Planner(fleet).plan(PlanOptions(resilience=False))
    usage = plan_usage(fleet, plan, t0, t0 + period)
    try:
        priced = price_usage(fleet, usage, extend.value)
    except TraceGap as exc:
        fail(f"period {period_text.strip()} from {format_time(t0)}: {exc}")
    except ValueError as exc:
        fail(str(exc))
    a = allocate_priced(fleet, priced, by)
    if plan.deferred:
        a = a.model_copy(update={"notes": [*a.notes, "deferrable workloads are not in the plan's usage "
                                           f"(fleetyard schedule places them): {', '.join(plan.deferred)}"]})
    return fleet, priced, a


def cost(
    paths: Annotated[list[Path] | None, typer.Argument(help="Fleet spec files or folders (or use --server).",
                                                       show_default=False)] = None,
    server: Annotated[str | None, typer.Option("--server", show_default=False, help=(
        "Control plane URL: allocate what actually ran (or FLEETYARD_SERVER when no DIR is given)."))] = None,
    token: TokenOpt = None,
    by: Annotated[str, typer.Option("--by", help="team | label:KEY | site | workload.")] = "team",
    period: Annotated[str, typer.Option("--period", help="Length: 30d, 72h, 2w.")] = "30d",
    start: Annotated[str | None, typer.Option("--start", show_default=False, help=(
        "Period start (ISO 8601 UTC). Files: default the start of every trace's coverage, "
        "else now minus the period."))] = None,
    extend: ExtendOpt = ExtendChoice.none,
    output: Annotated[CostFormat, typer.Option("--format", "-o", help="table, json, csv or focus "
                                               "(FinOps FOCUS 1.0 CSV, files only).")] = CostFormat.table,
    output_file: Annotated[Path | None, typer.Option("--output", show_default=False, help=(
        "Write json, csv or focus output to FILE instead of stdout."))] = None,
) -> None:
    """Showback: GPU-hours, kWh, CO2 and money by team, label, site or workload over a period."""
    why = check_by(by)
    if why is not None:
        fail(f"--by: {why}")
    length = parse_period(period)
    if isinstance(length, str):
        fail(f"--period: {length}")
    if output_file is not None and output is CostFormat.table:
        fail("--output: needs --format json, csv or focus")
    server = server or (None if paths else os.environ.get("FLEETYARD_SERVER"))
    if paths and server:
        fail("give fleet spec folders or --server, not both")
    if not paths and not server:
        current = connection_or_exit()
        if current.context is None:
            fail("give fleet spec folders (DIR...) or --server URL (or use a context: fleetyard config)")
        server = current.server
    if server:
        if output is CostFormat.focus:
            fail("--format focus: needs fleet spec folders (the server answers with the allocation only)")
        if start is not None:
            start = format_time(parse_at(start, "--start"))
        with _api(server, token) as api:
            allocation = api.cost(by=by, period=period.strip(), start=start)
        _show(allocation, output, output_file)
        return
    assert paths is not None
    fleet, priced, allocation = _from_files(paths, by, length, period, start, extend)
    if output is CostFormat.focus:
        _write(priced, output_file, fleet)
    else:
        _show(allocation, output, output_file)
