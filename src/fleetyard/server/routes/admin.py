"""Tokens (admin) and the audit log (viewer+)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from fleetyard.server.deps import PrincipalDep, SessionDep
from fleetyard.services import audit, tokens
from fleetyard.services.wire import AuditEntry, ErrorOut, TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/api/v1", tags=["identity"])
ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


@router.post("/tokens", response_model=TokenCreated, status_code=201, responses=ERRORS)
def create_token(body: TokenCreate, session: SessionDep, principal: PrincipalDep) -> TokenCreated:
    """A new token; the secret is in this answer only."""
    principal.require_admin()
    created = tokens.create_token(session, body, principal)
    session.commit()
    return created


@router.get("/tokens", response_model=list[TokenOut], responses=ERRORS)
def list_tokens(session: SessionDep, principal: PrincipalDep) -> list[TokenOut]:
    principal.require_admin()
    return tokens.list_tokens(session)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, responses=ERRORS)
def revoke_token(token_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    principal.require_admin()
    tokens.revoke_token(session, token_id, principal)
    session.commit()
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditEntry], responses=ERRORS)
def get_audit(session: SessionDep, principal: PrincipalDep,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
              action: Annotated[str | None, Query()] = None) -> list[AuditEntry]:
    """The newest entries first."""
    principal.require_reader()
    return audit.entries(session, limit, action=action)
