"""A site's energy over time: price, carbon intensity and PUE in each time slot.

A site with a trace (spec/trace.py) takes each column the trace has from it, as the
time-weighted mean over the slot; a column the trace lacks, and a site without a trace,
keeps the Site's constant. A horizon the trace does not cover is an error naming the site,
the trace and the missing interval (`TraceGap`), unless the caller asks to extend the
trace by repeating its days (`extend="repeat-daily"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from fleetyard.spec.fleet import Fleet
from fleetyard.spec.models import Site
from fleetyard.spec.trace import Trace, format_time, site_hours

__all__ = ["Extend", "SiteSeries", "TraceGap", "check_coverage", "fleet_at", "site_series"]

Extend = Literal["none", "repeat-daily"]
FloatArray = npt.NDArray[np.float64]


class TraceGap(Exception):
    """A site's trace does not cover the interval asked for."""

    def __init__(self, site: str, trace: str, start: datetime, end: datetime) -> None:
        self.site, self.trace, self.start, self.end = site, trace, start, end
        super().__init__(f"site {site}: trace {trace} does not cover {format_time(start)} to "
                         f"{format_time(end)} (use --extend repeat-daily to repeat its days)")


@dataclass(frozen=True)
class SiteSeries:
    """One site's values in each slot: $/kWh, gCO2/kWh and PUE."""

    site: str
    price_per_kwh: FloatArray
    carbon_g_per_kwh: FloatArray
    pue: FloatArray


def _trace_for(site: Site, trace: Trace | None, start: datetime, end: datetime, extend: Extend) -> Trace | None:
    if trace is None:
        return None
    gap = trace.missing(start, end)
    if gap is None:
        return trace
    if extend == "repeat-daily":
        return trace.repeat_daily(start, end)
    raise TraceGap(site.name, trace.name, *gap)


def check_coverage(fleet: Fleet, start: datetime, end: datetime) -> list[TraceGap]:
    """Every site whose trace does not cover [start, end)."""
    out = []
    for name, trace in fleet.traces.items():
        gap = trace.missing(start, end)
        if gap is not None:
            out.append(TraceGap(name, trace.name, *gap))
    return out


def site_series(fleet: Fleet, site: str, start: datetime, hours: Sequence[float],
                extend: Extend = "none") -> SiteSeries:
    """The site's values over consecutive slots of `hours` each, from `start`."""
    spec = fleet.sites[site]
    end = start + timedelta(hours=float(sum(hours)))
    trace = _trace_for(spec, fleet.traces.get(site), start, end, extend)
    return SiteSeries(
        site,
        site_hours(trace, "price_per_kwh", spec.spec.energy.price_per_kwh, start, hours),
        site_hours(trace, "carbon_g_per_kwh", spec.spec.energy.carbon_g_per_kwh, start, hours),
        site_hours(trace, "pue", spec.spec.power.pue, start, hours),
    )


def fleet_at(fleet: Fleet, t: datetime, extend: Extend = "none") -> Fleet:
    """The fleet with each traced site's constants replaced by the trace's values at `t`
    (the value in force in the trace's step that holds `t`): what `plan --at T` plans."""
    sites = dict(fleet.sites)
    for name, trace in fleet.traces.items():
        site = sites[name]
        use = _trace_for(site, trace, t, t + timedelta(seconds=1), extend)
        assert use is not None
        energy = site.spec.energy
        power = site.spec.power
        new_energy = energy.model_copy(update={
            k: use.value_at(k, t) for k in ("price_per_kwh", "carbon_g_per_kwh") if use.has(k)})
        new_power = power.model_copy(update={"pue": use.value_at("pue", t)}) if use.has("pue") else power
        sites[name] = site.model_copy(update={"spec": site.spec.model_copy(
            update={"energy": new_energy, "power": new_power})})
    return replace(fleet, sites=sites)
