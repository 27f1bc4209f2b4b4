"""Resources, apply, delete, plan, status and models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request

from fleetyard.server.body import parse_json, read_body
from fleetyard.server.deps import PathText, ReaderDep, SessionDep, StateDep, WriterDep
from fleetyard.server.openapi import errors, json_body
from fleetyard.server.state import AppState
from fleetyard.services import plan_history, planning, resources, status
from fleetyard.services.errors import ServiceError
from fleetyard.services.identity import Principal
from fleetyard.services.models import list_models
from fleetyard.services.wire import ApplyRequest, ApplyResult, FleetStatus, ModelOut, PlanOut, ResourceOut

router = APIRouter(prefix="/api/v1", tags=["fleet"])
APPLY_THREADS = 4  # applies parse and plan on at most this many threads, apart from the pool reads and heartbeats use


def _counted(state: AppState, run: Callable[[], ApplyResult]) -> ApplyResult:
    try:
        result = run()
    except ServiceError as exc:
        state.metrics.applies.labels("invalid" if exc.status < 500 else "error").inc()
        raise
    except Exception:
        state.metrics.applies.labels("error").inc()
        raise
    state.metrics.applies.labels("dry_run" if result.dry_run else "ok").inc()
    return result


@router.post("/apply", response_model=ApplyResult, responses=errors(409, 413, 422),
             openapi_extra=json_body(ApplyRequest))
async def apply(request: Request, state: StateDep, principal: WriterDep) -> ApplyResult:
    """Create or update every resource in the files, re-plan, bump the revision (one transaction).

    The body is read only after the token is checked, up to the apply limit (413), and
    parsed and planned in a worker thread of the applies' own few: a slow or hostile
    file stalls its request, and many of them stall applies, not the server."""
    body = await read_body(request, state.limits.apply)
    if state.apply_threads is None:  # made on first use: a limiter belongs to the running event loop
        state.apply_threads = anyio.CapacityLimiter(APPLY_THREADS)
    return await anyio.to_thread.run_sync(_apply, state, principal, body, limiter=state.apply_threads)


def _apply(state: AppState, principal: Principal, body: bytes) -> ApplyResult:
    request = parse_json(ApplyRequest, body)
    return _counted(state, lambda: state.fleet.apply(request, principal))


@router.get("/resources/{kind}", response_model=list[ResourceOut], responses=errors(404, 422))
def list_resources(kind: PathText, session: SessionDep, state: StateDep, _principal: ReaderDep) -> list[ResourceOut]:
    """Every stored resource of a kind: `regions`, `sites`, `workloads`, `policies`, `objectives`, `flags`,
    `secrets` (keys and digests, never values) (else 404)."""
    return resources.list_resources(session, kind, state.secrets)


@router.get("/resources/{kind}/{name}", response_model=ResourceOut, responses=errors(404, 422))
def get_resource(kind: PathText, name: PathText, session: SessionDep, state: StateDep,
                 _principal: ReaderDep) -> ResourceOut:
    return resources.get_resource(session, kind, name, state.secrets)


@router.delete("/resources/{kind}/{name}", response_model=ApplyResult, responses=errors(404, 409, 422))
def delete_resource(kind: PathText, name: PathText, state: StateDep, principal: WriterDep,
                    dry_run: Annotated[bool, Query()] = False) -> ApplyResult:
    """Delete a resource and re-plan; 422 if the rest of the fleet no longer validates."""
    return _counted(state, lambda: state.fleet.delete(kind, name, principal, dry_run=dry_run))


@router.get("/plan", response_model=PlanOut, responses=errors(404, 422))
def get_plan(session: SessionDep, _principal: ReaderDep,
             revision: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A stored revision "
                                                   "(GET /api/v1/plan/revisions) instead of the current plan.")]
             = None) -> PlanOut:
    """The current plan, or the one of `revision`; 404 before the first apply or for a revision not stored."""
    return planning.plan_out(session) if revision is None else plan_history.plan_at(session, revision)


@router.get("/status", response_model=FleetStatus, responses=errors())
def get_status(state: StateDep, session: SessionDep, _principal: ReaderDep) -> FleetStatus:
    return status.fleet_status(session, state.settings.heartbeat_interval, drift_after=state.settings.drift_after)


@router.get("/models", response_model=list[ModelOut], responses=errors())
def get_models(state: StateDep, _principal: ReaderDep) -> list[ModelOut]:
    return list_models(state.store)
