"""Plan history (viewer+): the stored plan revisions, newest first (docs/describe-and-history.md).

One plan revision whole is `GET /api/v1/plan?revision=N` (routes/fleet.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleetyard.server.deps import ReaderDep, SessionDep
from fleetyard.server.openapi import errors
from fleetyard.services import plan_history
from fleetyard.services.wire import PlanRevisionOut

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/plan/revisions", response_model=list[PlanRevisionOut], responses=errors(422))
def get_revisions(session: SessionDep, _principal: ReaderDep,
                  limit: Annotated[int, Query(ge=1, le=plan_history.MAX_LIMIT)] = 50,
                  offset: Annotated[int, Query(ge=0, le=plan_history.MAX_REVISION,
                                               description="Skip this many of the newest.")] = 0,
                  ) -> list[PlanRevisionOut]:
    """Each stored plan: revision, when, who made it and with which resource changes, its counts."""
    return plan_history.list_revisions(session, limit=limit, offset=offset)
