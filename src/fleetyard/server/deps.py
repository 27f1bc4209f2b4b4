"""Typed dependencies of the routes: the app state, the database session, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from fleetyard.server.state import AppState
from fleetyard.services import tokens
from fleetyard.services.identity import Principal

__all__ = ["CredentialsDep", "PrincipalDep", "SessionDep", "StateDep", "center_url"]

_bearer = HTTPBearer(auto_error=False, description="A fleetyard token: `fleetyard token create`.")


async def get_state(request: Request) -> AppState:
    """Async on purpose: no thread hop for a dictionary lookup."""
    state: AppState = request.app.state.fleetyard
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.db.session() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session)]


CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_principal(session: SessionDep, credentials: CredentialsDep) -> Principal:
    """The caller, looked up in the request's own session (one connection per request)."""
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    return tokens.authenticate(session, header)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def center_url(request: Request, state: AppState) -> str:
    """The URL agents fetch chunks from at the center: the configured one, else this request's."""
    return (state.settings.public_url or str(request.base_url)).rstrip("/")
