"""Plan history (viewer+): the stored plan revisions, newest first (docs/describe-and-history.md).

One plan revision whole is `GET /api/v1/plan?revision=N` (routes/fleet.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fleetyard.server.deps import ReaderDep, SessionDep
from fleetyard.server.openapi import errors
from fleetyard.services import plan_history
from fleetyard.services.errors import InvalidRequest
from fleetyard.services.wire import PlanRevisionOut

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/plan/revisions", response_model=list[PlanRevisionOut], responses=errors(422))
def get_revisions(request: Request, session: SessionDep, _principal: ReaderDep,
                  limit: Annotated[int, Query(ge=1, le=plan_history.MAX_LIMIT)] = 50,
                  offset: Annotated[int, Query(ge=0, le=plan_history.MAX_REVISION,
                                               description="Skip this many of the newest.")] = 0,
                  ) -> list[PlanRevisionOut]:
    """Each stored plan: revision, when, who made it and with which resource changes, its counts."""
    keys = [k for k, _v in request.query_params.multi_items()]
    unknown = sorted(set(keys) - {"limit", "offset"})
    if unknown:  # a misspelt `limt` would silently give the default page
        raise InvalidRequest(f"unknown query parameter {unknown[0]!r}: expected limit, offset")
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InvalidRequest(f"query parameter {twice[0]!r} given more than once; give it once")
    return plan_history.list_revisions(session, limit=limit, offset=offset)
