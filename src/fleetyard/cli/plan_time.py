"""`plan --at T`, `--day D`, `--extend`: the plan priced at a moment of the traces and over a day.

    fleetyard plan DIR --at 2020-06-01T12:00:00Z      # the fleet at that moment of its traces
    fleetyard plan DIR --day 2020-06-01               # hourly range over that UTC day

`--at` plans with each traced site's constants replaced by its trace's values at T
(`energy.timeline.fleet_at`). When any site has a trace, the plan's assignments are then
priced at each hour of a day - `--day`, else the UTC day holding `--at`, else the last
whole UTC day every trace covers - and the plan says "over 2020-06-01 (UTC): $X-$Y/h,
A-B kg CO2/h" (JSON: `over_day`). A trace that does not cover T or the day is an error
naming the site, the trace and the interval (exit 2), unless `--extend repeat-daily`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.text import Text

from fleetyard.cli.common import fail
from fleetyard.cli.render import money
from fleetyard.energy.dayrange import default_day, over_day
from fleetyard.energy.timeline import TraceGap, fleet_at
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import Plan
from fleetyard.spec.trace import format_time, parse_time

__all__ = ["AtOpt", "DayOpt", "ExtendChoice", "ExtendOpt", "at_fleet", "over_day_text", "parse_at", "with_over_day"]


class ExtendChoice(StrEnum):
    none = "none"
    repeat_daily = "repeat-daily"


AtOpt = Annotated[str | None, typer.Option("--at", show_default=False, help=(
    "Plan at this moment of the traces (ISO 8601 UTC, e.g. 2020-06-01T12:00:00Z)."))]
DayOpt = Annotated[str | None, typer.Option("--day", show_default=False, help=(
    "UTC day (YYYY-MM-DD) for the hourly range; default: the day of --at, else the last whole "
    "day every trace covers."))]
ExtendOpt = Annotated[ExtendChoice, typer.Option("--extend", help=(
    "none: a trace that does not cover the time is an error; repeat-daily: repeat its days."))]


def parse_at(text: str, option: str = "--at") -> datetime:
    t = parse_time(text)
    if isinstance(t, str):
        fail(f"{option}: {t}")
    return t


def _parse_day(text: str) -> datetime:
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        fail(f"--day: expected a UTC day such as 2020-06-01, got '{text}'")
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def at_fleet(fleet: Fleet, at: str | None, extend: ExtendChoice) -> Fleet:
    """The fleet priced at `--at` (unchanged without it); a trace gap exits 2."""
    if at is None:
        return fleet
    t = parse_at(at)
    try:
        return fleet_at(fleet, t, extend.value)
    except TraceGap as exc:
        trace = fleet.traces[exc.site]
        fail(f"--at: site {exc.site}: trace {exc.trace} does not cover {format_time(t)} (it covers "
             f"{format_time(trace.start)} to {format_time(trace.end)}; use --extend repeat-daily to repeat its days)")
    except ValueError as exc:  # repeat-daily on a trace shorter than a day
        fail(str(exc))


def with_over_day(fleet: Fleet, plan: Plan, at: str | None, day: str | None, extend: ExtendChoice) -> Plan:
    """The plan with its hourly range over a day, when any site has a trace."""
    if not fleet.traces:
        if day is not None:
            fail("--day: no site has an energy trace, so every hour costs the same")
        return plan
    when = _parse_day(day) if day is not None else parse_at(at) if at is not None else default_day(fleet)
    if when is None:
        notes = [*plan.solver.notes, "no hourly range: no whole UTC day is covered by every trace "
                                     "(give --day and --extend repeat-daily)"]
        return plan.model_copy(update={"solver": plan.solver.model_copy(update={"notes": notes})})
    try:
        return plan.model_copy(update={"over_day": over_day(fleet, plan, when, extend.value)})
    except TraceGap as exc:
        fail(f"hourly range: {exc}")
    except ValueError as exc:
        fail(str(exc))


def over_day_text(plan: Plan) -> Text:
    """`Over 2020-06-01 (UTC): $X-$Y/h (mean $Z/h), A-B kg CO2/h (mean C)`, or nothing."""
    d = plan.over_day
    if d is None:
        return Text("")
    c, k = d.cost_per_hour, d.carbon_kg_per_hour
    return Text.assemble(
        ("Over    ", "bold"),
        f"{d.start:%Y-%m-%d} (UTC), same placement hour by hour: ",
        (f"{money(c.min)}-{money(c.max)}/h", "bold"), f" (mean {money(c.mean)}/h), ",
        (f"{k.min:,.1f}-{k.max:,.1f} kg CO2/h", "bold"), f" (mean {k.mean:,.1f}), "
        f"{d.power_kw.min:,.1f}-{d.power_kw.max:,.1f} kW facility")
