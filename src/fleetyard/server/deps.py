"""Typed dependencies of the routes: the app state, the database session, the caller.

Each route takes exactly one role dependency (`ReaderDep`, `WriterDep`, `AdminDep`,
`ObjectReaderDep`, `SiteReaderDep`): it authenticates (401) and checks the role or site
(403) while FastAPI resolves dependencies, before it validates any parameter (422) and
before the route reads its body - so who may call is answered before what was sent.

Path and query parameters are typed with `PathText` / `QueryText` (no NUL: see
services/storable.py), so a string the database cannot store is a 422 naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from fleetyard.server.state import AppState
from fleetyard.server.tls import peer_of
from fleetyard.services import tokens
from fleetyard.services.errors import InvalidRequest
from fleetyard.services.identity import Principal
from fleetyard.services.storable import NUL_FREE
from fleetyard.services.tls import check_agent_peer
from fleetyard.spec.trace import parse_time

__all__ = ["SITE", "AdminDep", "CredentialsDep", "ObjectReaderDep", "PathText", "PrincipalDep", "ReaderDep",
           "ScraperDep", "SessionDep", "SiteReaderDep", "StateDep", "WriterDep", "center_url", "query_time"]

PathText = Annotated[str, Path(pattern=NUL_FREE)]
SITE = {"pattern": NUL_FREE, "maxLength": 63}  # a site name, as the tables store it

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


def get_principal(request: Request, session: SessionDep, credentials: CredentialsDep) -> Principal:
    """The caller, looked up in the request's own session (one connection per request); an agent
    token over a connection with a client certificate must be the certificate's site's (403)."""
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    principal = tokens.authenticate(session, header)
    check_agent_peer(principal, peer_of(request))
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def _reader(principal: PrincipalDep) -> Principal:
    principal.require_reader()
    return principal


async def _writer(principal: PrincipalDep) -> Principal:
    principal.require_writer()
    return principal


async def _admin(principal: PrincipalDep) -> Principal:
    principal.require_admin()
    return principal


async def _object_reader(principal: PrincipalDep) -> Principal:
    principal.require_object_reader()
    return principal


async def _scraper(principal: PrincipalDep) -> Principal:
    principal.require_scraper()
    return principal


async def _site_reader(request: Request, principal: PrincipalDep) -> Principal:
    """Readers, or the agent of the route's `{site}` (read raw here: validated after)."""
    principal.require_site_reader(str(request.path_params.get("site", "")))
    return principal


# Async: a role check is a comparison, not worth a worker thread.
ReaderDep = Annotated[Principal, Depends(_reader)]
WriterDep = Annotated[Principal, Depends(_writer)]
AdminDep = Annotated[Principal, Depends(_admin)]
ObjectReaderDep = Annotated[Principal, Depends(_object_reader)]
SiteReaderDep = Annotated[Principal, Depends(_site_reader)]
ScraperDep = Annotated[Principal, Depends(_scraper)]


def center_url(request: Request, state: AppState) -> str:
    """The URL agents fetch chunks from at the center: the configured one, else this request's."""
    return (state.settings.public_url or str(request.base_url)).rstrip("/")


def query_time(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 UTC query parameter (None when absent); a bad one is a 422 naming it."""
    if text is None:
        return None
    t = parse_time(text)
    if isinstance(t, str):
        raise InvalidRequest(f"query parameter {name!r}: {t}")
    return t
