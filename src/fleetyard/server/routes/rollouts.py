"""Rollouts: the latest rollout of each workload (viewer+), and the operators' actions
(operator+, audited): pause, resume, promote, abort, undo (optional body `{"to": REF}`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from fleetyard.server.body import parse_json, read_body
from fleetyard.server.deps import ReaderDep, StateDep, WriterDep
from fleetyard.server.openapi import errors, json_body
from fleetyard.server.state import AppState
from fleetyard.services.identity import Principal
from fleetyard.services.rollouts import RolloutService
from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire import RolloutAction, RolloutOut

router = APIRouter(prefix="/api/v1/rollouts", tags=["rollouts"])
WorkloadName = Annotated[str, Path(pattern=NUL_FREE, max_length=63)]
Action = Literal["pause", "resume", "promote", "abort", "undo"]


def _service(state: AppState) -> RolloutService:
    assert state.rollouts is not None
    return state.rollouts


@router.get("", response_model=list[RolloutOut], responses=errors())
def list_rollouts(state: StateDep, _principal: ReaderDep) -> list[RolloutOut]:
    """The latest rollout of every workload, by workload name."""
    return _service(state).list()


@router.get("/{workload}", response_model=RolloutOut, responses=errors(404, 422))
def get_rollout(workload: WorkloadName, state: StateDep, _principal: ReaderDep) -> RolloutOut:
    """The workload's latest rollout: from, to, state, reason, waves; 404 when it has none."""
    return _service(state).get(workload)


@router.post("/{workload}/{action}", response_model=RolloutOut, responses=errors(404, 409, 413, 422),
             openapi_extra=json_body(RolloutAction) | {"requestBody": {"required": False, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/RolloutAction"}}}}})
async def act(workload: WorkloadName, action: Action, request: Request, state: StateDep,
              principal: WriterDep) -> RolloutOut:
    """pause (freeze wave progress; gates still judged), resume (continue; retry a failed wave),
    promote (skip the remaining bakes and gates), abort (every switched site back to `from`),
    undo (pin the previous version, or `{"to": REF}`, fleet-wide as its own rollout).
    404: no such workload or no rollout; 409: the rollout's state does not allow it."""
    body = await read_body(request, state.limits.json)
    return await run_in_threadpool(_act, state, workload, action, principal, body)


def _act(state: AppState, workload: str, action: str, principal: Principal, body: bytes) -> RolloutOut:
    to = parse_json(RolloutAction, body).to if body.strip() else None
    return _service(state).act(workload, action, principal, to)
