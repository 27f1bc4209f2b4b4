"""Events (viewer+): what the control plane did and why (docs/api.md, Events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fleetyard.server.deps import ReaderDep, SessionDep
from fleetyard.server.openapi import errors
from fleetyard.services import events
from fleetyard.services.errors import InvalidRequest
from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire import EventOut

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events", response_model=list[EventOut], responses=errors(422))
def get_events(request: Request, session: SessionDep, _principal: ReaderDep,
               after: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="Only events with a larger id, "
                                                  "oldest first (poll with the last id seen).")] = None,
               limit: Annotated[int, Query(ge=1, le=events.MAX_LIMIT)] = 100,
               kind: Annotated[str | None, Query(pattern=NUL_FREE, max_length=40, description="A kind, e.g. "
                                                 "`site.down`, or a prefix ending in `.`, e.g. `rollout.`")] = None,
               subject: Annotated[str | None, Query(pattern=NUL_FREE, max_length=255)] = None) -> list[EventOut]:
    """Events in id order: the newest `limit`, or the first `limit` after `after`."""
    keys = [k for k, _v in request.query_params.multi_items()]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:  # each filter is one value; a repeated one would silently keep only the last
        raise InvalidRequest(f"query parameter {twice[0]!r} given more than once; give each filter once")
    return events.list_events(session, after=after, limit=limit, kind=kind, subject=subject)
