"""Energy over time (issue 11): the deferred-work schedule and the usage the sites reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from fleetyard.energy.timeline import Extend
from fleetyard.server.deps import ReaderDep, SessionDep, StateDep, query_time
from fleetyard.server.openapi import errors
from fleetyard.services import schedules, showback, usage
from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire import ScheduleOut, UsageOut
from fleetyard.spec.allocation import Allocation

router = APIRouter(prefix="/api/v1", tags=["energy"])


@router.get("/schedule", response_model=ScheduleOut, responses=errors(404))
def get_schedule(session: SessionDep, _principal: ReaderDep) -> ScheduleOut:
    """The deferred-work schedule made with the current plan revision; 404 before the first apply."""
    return schedules.schedule_out(session)



@router.get("/usage", response_model=list[UsageOut], responses=errors(422))
def get_usage(session: SessionDep, _principal: ReaderDep,
              since: Annotated[str | None, Query(pattern=NUL_FREE, max_length=64, description=(
                  "First hour (ISO 8601 UTC); default: 30 days before `until`"))] = None,
              until: Annotated[str | None, Query(pattern=NUL_FREE, max_length=64,
                                                 description="End, exclusive; default: now")] = None,
              limit: Annotated[int, Query(ge=1, le=usage.MAX_LIMIT)] = 1000,
              offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> list[UsageOut]:
    """Hourly usage rows as the sites reported them (site, workload, SKU, hour), oldest first;
    page with `offset`."""
    end = query_time(until, "until") or datetime.now(UTC)
    begin = query_time(since, "since")
    if begin is None:
        begin = end - timedelta(days=30) if end.year > 1 else end
    return usage.list_usage(session, begin, end, limit=limit, offset=offset)


@router.get("/cost", response_model=Allocation, responses=errors(422))
def get_cost(state: StateDep, session: SessionDep, _principal: ReaderDep,
             by: Annotated[str, Query(pattern=NUL_FREE, max_length=80,
                                      description="team | label:KEY | site | workload")] = "team",
             period: Annotated[str, Query(pattern=NUL_FREE, max_length=20,
                                          description="e.g. 30d, 72h, 2w")] = "30d",
             start: Annotated[str | None, Query(pattern=NUL_FREE, max_length=64, description=(
                 "First hour (ISO 8601 UTC); default: the period that ends with the current hour"))] = None,
             extend: Annotated[Extend | None, Query(description=(
                 "repeat-daily: repeat a trace's days where it does not cover the period; default: the "
                 "server's FLEETYARD_SCHEDULE_EXTEND"))] = None) -> Allocation:
    """Showback over what the sites reported running (source "recorded"), priced hour by hour
    at the stored traces with the planner's formula, summed by `by`."""
    return showback.cost_allocation(session, by, period, start, extend=extend or state.settings.schedule_extend)
