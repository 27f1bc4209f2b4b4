"""What agents call: their site's desired state, and the heartbeat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fleetyard.server.body import parse_json, read_bounded
from fleetyard.server.deps import SITE, CredentialsDep, SessionDep, SiteReaderDep, StateDep, center_url
from fleetyard.server.openapi import errors, json_body
from fleetyard.server.state import AppState
from fleetyard.server.tls import peer_of
from fleetyard.services import desired, status, tokens
from fleetyard.services.errors import PayloadTooLarge
from fleetyard.services.telemetry import store
from fleetyard.services.tls import PeerCertificate, check_agent_peer
from fleetyard.services.wire import DesiredState, SiteReport

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])
Site = Annotated[str, Path(pattern=SITE["pattern"], max_length=SITE["maxLength"])]


@router.get("/{site}/desired", response_model=DesiredState, responses=errors(404, 422))
def get_desired(site: Site, request: Request, state: StateDep, session: SessionDep,
                principal: SiteReaderDep) -> DesiredState:
    """Models (with chunk sources, nearest first) and workloads the site must hold and run.
    The values of the workloads' `secret_env` only for the site's own agent token."""
    return desired.desired_state(session, state.store, site, center_url(request, state),
                                 state.settings.heartbeat_interval, secrets=state.secrets,
                                 reveal=principal.role == "agent" and principal.site == site)


@router.put("/{site}/status", status_code=204, response_class=Response,
            responses={204: {"description": "Recorded."}, **errors(413, 422)},
            openapi_extra=json_body(SiteReport))
async def put_status(site: Annotated[str, Path(json_schema_extra=SITE)], request: Request, state: StateDep,
                     credentials: CredentialsDep) -> Response:
    """The heartbeat: a `SiteReport` for the site, stored with one upsert, its samples added to the history.

    The server's hot path: the token check, the body's validation (after the token, so
    401/403 come before 413 and 422), the upsert and the commit run in one worker thread
    hop and one session - a third less CPU than FastAPI's dependency and body machinery.
    `{site}` is checked there too: it must be the report's own (valid) site name."""
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    body = await read_bounded(request, state.limits.heartbeat)
    peer = peer_of(request)
    if state.heartbeats is not None:  # group commit with other sites' heartbeats (server/heartbeats.py)
        await state.heartbeats.submit(header, site, body, peer)
    else:
        await run_in_threadpool(_heartbeat, state, header, site, body, peer)
    state.metrics.heartbeats.labels(site).inc()
    return Response(status_code=204)


def store_report(state: AppState, session: Session, header: str | None, site: str,
                 body: bytes | PayloadTooLarge, peer: PeerCertificate | None) -> None:
    """Check one heartbeat (token, client certificate, size, body: before anything is written)
    and write it; no commit."""
    principal = tokens.authenticate(session, header)
    check_agent_peer(principal, peer)  # mutual TLS: the certificate's site is the token's (docs/tls.md)
    principal.require_site_writer(site)
    if isinstance(body, PayloadTooLarge):
        raise body
    report = parse_json(SiteReport, body)
    status.record_report(session, site, report, interval=state.settings.heartbeat_interval)
    store.ingest(session, site, report.samples)  # the samples' history, in the report's transaction


def _heartbeat(state: AppState, header: str | None, site: str, body: bytes | PayloadTooLarge,
               peer: PeerCertificate | None) -> None:
    with state.db.session() as session:
        store_report(state, session, header, site, body, peer)
        session.commit()
