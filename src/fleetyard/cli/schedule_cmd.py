"""`fleetyard schedule`: where and when each deferrable job runs (energy/schedule.py).

    fleetyard schedule examples/fleet --start 2020-06-01T00:00:00Z --horizon 5d --objective carbon

The always-on plan comes from the same planner as `fleetyard plan` (its optimizer, without
the resilience report; `--strategy greedy` for the quick baseline); the deferrable jobs
are scheduled on what it leaves.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fleetyard.cli.common import EXIT_RESULT, Format, console, did_you_mean, fail, load_or_exit
from fleetyard.cli.output import emit, structured
from fleetyard.cli.schedule_render import render_schedule
from fleetyard.energy.schedule import schedule_fleet
from fleetyard.energy.timeline import TraceGap
from fleetyard.placement import STRATEGIES, Planner, PlanOptions
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.trace import epoch, format_time, parse_time

__all__ = ["parse_hours", "register", "schedule"]

_UNITS = {"m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)?\s*$")


def parse_hours(text: str) -> float | str:
    """`72h`, `3d`, `90m`, `1w` or a bare number of hours -> hours; an error message otherwise."""
    m = _DURATION.match(text)
    if not m:
        return f"expected a duration such as 72h, 3d or 90m, got '{text}'"
    hours = float(m.group(1)) * _UNITS[m.group(2) or "h"]
    if hours <= 0:
        return f"expected a duration longer than 0, got '{text}'"
    return hours


class ObjectiveName(StrEnum):
    cost = "cost"
    carbon = "carbon"


class ExtendName(StrEnum):
    none = "none"
    repeat_daily = "repeat-daily"


Paths = Annotated[list[Path], typer.Argument(help="Fleet spec files or folders (every *.yaml/*.yml).",
                                             show_default=False)]


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)


def _floor(t: datetime, slot_h: float) -> datetime:
    step = slot_h * 3600.0
    return datetime.fromtimestamp(math.floor(epoch(t) / step) * step, tz=UTC)


def _window(fleet: Fleet, start: str | None, horizon: str | None, slot_h: float) -> tuple[datetime, float]:
    jobs = [w.spec.schedule for w in fleet.deferred() if w.spec.schedule is not None]
    if start is not None:
        t = parse_time(start)
        if isinstance(t, str):
            fail(f"--start: {t}")
        t0 = t
    elif jobs:
        t0 = _floor(min(j.earliest for j in jobs), slot_h)
    else:
        t0 = _floor(datetime.now(UTC), slot_h)
    if horizon is not None:
        h = parse_hours(horizon)
        if isinstance(h, str):
            fail(f"--horizon: {h}")
        return t0, h
    end = max((j.deadline for j in jobs), default=t0 + timedelta(hours=24))
    hours = (end - t0).total_seconds() / 3600.0
    if hours <= 0:
        fail(f"--horizon: every deadline is before --start {format_time(t0)}; give --horizon")
    return t0, math.ceil(hours / slot_h - 1e-9) * slot_h


def schedule(
    paths: Paths,
    start: Annotated[str | None, typer.Option("--start", help=(
        "Start of the horizon, ISO 8601 UTC (default: the earliest `earliest` of the deferred jobs, "
        "floored to the slot).") , show_default=False)] = None,
    horizon: Annotated[str | None, typer.Option("--horizon", help=(
        "Length of the horizon: 72h, 3d, 90m (default: up to the latest deadline)."), show_default=False)] = None,
    objective: Annotated[ObjectiveName, typer.Option("--objective", help=(
        "cost: rent + energy x PUE + carbon price x intensity + egress; carbon: emissions first, then cost."))
    ] = ObjectiveName.cost,
    extend: Annotated[ExtendName, typer.Option("--extend", help=(
        "none: a trace that does not cover the horizon is an error; repeat-daily: repeat its days."))
    ] = ExtendName.none,
    slot: Annotated[str, typer.Option("--slot", help="Slot length: 1h, 30m, 15m.")] = "1h",
    output: Annotated[Format, typer.Option("--format", "-o", help="Output: table, wide, json or yaml.")] = Format.table,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help=(
        f"Planner of the always-on work, one of: {', '.join(STRATEGIES)}."))] = "optimizer",
    fail_on_unscheduled: Annotated[bool, typer.Option(help="Exit 3 if any deferrable job is unscheduled.")] = False,
) -> None:
    """Schedule deferrable jobs in time slots: where and when each runs, cheapest or cleanest."""
    if strategy not in STRATEGIES:
        hint = did_you_mean(strategy, STRATEGIES)
        fail(f"--strategy: expected one of {', '.join(STRATEGIES)}, got '{strategy}'{hint}")
    slot_h = parse_hours(slot)
    if isinstance(slot_h, str):
        fail(f"--slot: {slot_h}")
    fleet = load_or_exit(paths)
    t0, horizon_h = _window(fleet, start, horizon, slot_h)
    plan = Planner(fleet).plan(PlanOptions(strategy=strategy, resilience=False, explain=False))
    try:
        result = schedule_fleet(fleet, plan, t0, horizon_h, objective=objective.value, extend=extend.value,
                                slot_h=slot_h)
    except TraceGap as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"--horizon/--slot: {exc}")
    if structured(output):
        emit(result.model_dump_json(), output)
    else:
        render_schedule(console, result, ", ".join(str(p) for p in paths))
    if fail_on_unscheduled and result.unscheduled:
        raise typer.Exit(EXIT_RESULT)
