"""Energy over time (issue 11): the deferred-work schedule and the usage the sites reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from fleetyard.server.deps import ReaderDep, SessionDep
from fleetyard.server.openapi import errors
from fleetyard.services import schedules, usage
from fleetyard.services.errors import InvalidRequest
from fleetyard.services.wire import ScheduleOut, UsageOut

router = APIRouter(prefix="/api/v1", tags=["energy"])


@router.get("/schedule", response_model=ScheduleOut, responses=errors(404))
def get_schedule(session: SessionDep, _principal: ReaderDep) -> ScheduleOut:
    """The deferred-work schedule made with the current plan revision; 404 before the first apply."""
    return schedules.schedule_out(session)


def _utc(t: datetime | None, name: str) -> datetime | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise InvalidRequest(f"query parameter {name!r}: expected a time with a UTC offset such as "
                             "2020-06-01T00:00:00Z, found one without")
    try:
        return t.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidRequest(f"query parameter {name!r}: {t.isoformat()} is outside the years UTC can hold") from None


@router.get("/usage", response_model=list[UsageOut], responses=errors(422))
def get_usage(session: SessionDep, _principal: ReaderDep,
              since: Annotated[datetime | None, Query(description="First hour (ISO 8601 with offset); "
                                                      "default: 30 days before `until`")] = None,
              until: Annotated[datetime | None, Query(description="End, exclusive; default: now")] = None,
              limit: Annotated[int, Query(ge=1, le=usage.MAX_LIMIT)] = 1000,
              offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> list[UsageOut]:
    """Hourly usage rows as the sites reported them (site, workload, SKU, hour), oldest first;
    page with `offset`."""
    end = _utc(until, "until") or datetime.now(UTC)
    start = _utc(since, "since") or max(end, datetime.min.replace(tzinfo=UTC) + timedelta(days=30)) - timedelta(
        days=30)
    return usage.list_usage(session, start, end, limit=limit, offset=offset)
