"""Resources, apply, delete, plan, status and models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query

from fleetyard.server.deps import PrincipalDep, SessionDep, StateDep
from fleetyard.services import planning, resources, status
from fleetyard.services.errors import ServiceError
from fleetyard.services.models import list_models
from fleetyard.services.wire import (
    ApplyRequest,
    ApplyResult,
    ErrorOut,
    FleetStatus,
    ModelOut,
    PlanOut,
    ResourceOut,
    ValidationFailure,
)

router = APIRouter(prefix="/api/v1", tags=["fleet"])
ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


def _counted(state: StateDep, run: Callable[[], ApplyResult]) -> ApplyResult:
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


@router.post("/apply", response_model=ApplyResult,
             responses={**ERRORS, 422: {"model": ValidationFailure}})
def apply(body: ApplyRequest, state: StateDep, principal: PrincipalDep) -> ApplyResult:
    """Create or update every resource in the files, re-plan, bump the revision (one transaction)."""
    principal.require_writer()
    return _counted(state, lambda: state.fleet.apply(body, principal))


@router.get("/resources/{kind}", response_model=list[ResourceOut], responses=ERRORS)
def list_resources(kind: str, session: SessionDep, principal: PrincipalDep) -> list[ResourceOut]:
    principal.require_reader()
    return resources.list_resources(session, kind)


@router.get("/resources/{kind}/{name}", response_model=ResourceOut, responses=ERRORS)
def get_resource(kind: str, name: str, session: SessionDep, principal: PrincipalDep) -> ResourceOut:
    principal.require_reader()
    return resources.get_resource(session, kind, name)


@router.delete("/resources/{kind}/{name}", response_model=ApplyResult,
               responses={**ERRORS, 422: {"model": ValidationFailure}})
def delete_resource(kind: str, name: str, state: StateDep, principal: PrincipalDep,
                    dry_run: Annotated[bool, Query()] = False) -> ApplyResult:
    """Delete a resource and re-plan; 422 if the rest of the fleet no longer validates."""
    principal.require_writer()
    return _counted(state, lambda: state.fleet.delete(kind, name, principal, dry_run=dry_run))


@router.get("/plan", response_model=PlanOut, responses=ERRORS)
def get_plan(session: SessionDep, principal: PrincipalDep) -> PlanOut:
    principal.require_reader()
    return planning.plan_out(session)


@router.get("/status", response_model=FleetStatus, responses=ERRORS)
def get_status(state: StateDep, session: SessionDep, principal: PrincipalDep) -> FleetStatus:
    principal.require_reader()
    return status.fleet_status(session, state.settings.heartbeat_interval)


@router.get("/models", response_model=list[ModelOut], responses=ERRORS)
def get_models(state: StateDep, principal: PrincipalDep) -> list[ModelOut]:
    principal.require_reader()
    return list_models(state.store)
