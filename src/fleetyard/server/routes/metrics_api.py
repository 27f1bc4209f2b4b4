"""The telemetry history (issue 12): the series catalog and one series over a range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from fleetyard.server.deps import ReaderDep, SessionDep, StateDep, query_time
from fleetyard.server.openapi import errors
from fleetyard.services.errors import InvalidRequest
from fleetyard.services.storable import NUL_FREE
from fleetyard.services.telemetry.query import SeriesResult, history
from fleetyard.services.wire_telemetry import SERIES

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])
DEFAULT_RANGE = timedelta(hours=1)


class SeriesOut(BaseModel):
    """One series of the catalog: what `GET /api/v1/metrics/{series}` answers for."""

    series: str
    unit: str
    label: Literal["", "workload", "source"]  # "" = one value per site
    kind: Literal["gauge", "counter"]
    help: str



Text = Annotated[str | None, Query(pattern=NUL_FREE, max_length=63)]
Time = Annotated[str | None, Query(pattern=NUL_FREE, max_length=64)]


@router.get("", response_model=list[SeriesOut], responses=errors())
def get_catalog(_principal: ReaderDep) -> list[SeriesOut]:
    """Every series the sites report: its unit, its label (workload, source or none), gauge or counter."""
    return [SeriesOut(series=name, unit=i.unit, label=i.label, kind=i.kind, help=i.help)
            for name, i in SERIES.items()]


@router.get("/{series}", response_model=SeriesResult, responses=errors(422))
def get_series(series: Annotated[str, Path(pattern=NUL_FREE, max_length=64)], state: StateDep,
               session: SessionDep, _principal: ReaderDep, site: Text = None,
               workload: Annotated[str | None, Query(pattern=NUL_FREE, max_length=160,
                                                     description="Only this workload's line")] = None,
               source: Annotated[str | None, Query(pattern=NUL_FREE, max_length=160,
                                                   description="Only this source's line (fetched_bytes)")] = None,
               start: Annotated[str | None, Query(pattern=NUL_FREE, max_length=64, description=(
                   "ISO 8601 UTC, inclusive; default: an hour before `end`"))] = None,
               end: Annotated[str | None, Query(pattern=NUL_FREE, max_length=64,
                                                description="ISO 8601 UTC, exclusive; default: now")] = None,
               resolution: Annotated[int | None, Query(ge=0, le=86_400, description=(
                   "Seconds per point: 0 (raw samples), 60 or 3600; default: the finest whose retention "
                   "covers the range with at most 2,000 points per line"))] = None) -> SeriesResult:
    """One series from `start` to `end`: a line per site and label, points `[time, value]` oldest first.

    422 with the reason for an unknown series, `end <= start`, a range older than the
    retention of the resolution, or too many points."""
    if workload is not None and source is not None:
        raise InvalidRequest("give workload or source, not both")
    info = SERIES.get(series)
    label = workload if workload is not None else source
    if info is not None and label is not None and info.label != ("workload" if workload is not None else "source"):
        raise InvalidRequest(f"series {series!r} has no {'workload' if workload is not None else 'source'} "
                             f"label ({info.label or 'one value per site'})")
    until = query_time(end, "end") or datetime.now(UTC)
    try:
        since = query_time(start, "start") or until - DEFAULT_RANGE
    except OverflowError:
        raise InvalidRequest(f"query parameter 'end': {end} leaves no hour before it; give start") from None
    return history(session, series, site=site, label=label, start=since, end=until, resolution=resolution,
                   retention=state.settings.retention)
