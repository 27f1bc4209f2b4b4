"""Tokens (admin) and the audit log (viewer+)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fleetyard.server.body import parse_json, read_body
from fleetyard.server.deps import AdminDep, PathText, ReaderDep, SessionDep, StateDep
from fleetyard.server.openapi import errors, json_body
from fleetyard.services import audit, tokens
from fleetyard.services.identity import Principal
from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire import AuditEntry, TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.post("/tokens", response_model=TokenCreated, status_code=201, responses=errors(413, 422),
             openapi_extra=json_body(TokenCreate))
async def create_token(request: Request, state: StateDep, session: SessionDep, principal: AdminDep) -> TokenCreated:
    """A new token; the secret is in this answer only."""
    body = await read_body(request, state.limits.json)
    return await run_in_threadpool(_create, session, principal, body)


def _create(session: Session, principal: Principal, body: bytes) -> TokenCreated:
    """In the request's own session (one connection per request), moved to a worker thread."""
    created = tokens.create_token(session, parse_json(TokenCreate, body), principal)
    session.commit()
    return created


@router.get("/tokens", response_model=list[TokenOut], responses=errors())
def list_tokens(session: SessionDep, _principal: AdminDep) -> list[TokenOut]:
    return tokens.list_tokens(session)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, responses=errors(404, 409, 422))
def revoke_token(token_id: PathText, session: SessionDep, principal: AdminDep) -> Response:
    """Revoke a token; 409 for the last active admin token without expiry (that would lock every admin out)."""
    tokens.revoke_token(session, token_id, principal)
    session.commit()
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditEntry], responses=errors(422))
def get_audit(session: SessionDep, _principal: ReaderDep,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
              action: Annotated[str | None, Query(pattern=NUL_FREE, max_length=40)] = None) -> list[AuditEntry]:
    """The newest entries first."""
    return audit.entries(session, limit, action=action)
