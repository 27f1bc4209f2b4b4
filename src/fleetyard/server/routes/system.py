"""`GET /healthz` (no token), `GET /metrics` (scrape, viewer+) and `GET /api/v1/whoami` (any token)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from fleetyard.server.deps import PrincipalDep, ScraperDep, StateDep
from fleetyard.server.metrics import exposition
from fleetyard.server.openapi import errors
from fleetyard.services.wire import HealthOut, WhoAmI

router = APIRouter(tags=["system"])
TEXT = {"text/plain": {"schema": {"type": "string"}}}


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """Liveness; the only route without a token."""
    return HealthOut()


@router.get("/metrics", response_class=Response,
            responses={200: {"content": TEXT, "description": "Prometheus text format."}, **errors()})
def metrics(state: StateDep, _principal: ScraperDep) -> Response:
    """Prometheus text format (a `scrape` token, or viewer and up, as the scraper's bearer token)."""
    return Response(exposition(state.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/whoami", response_model=WhoAmI, responses=errors())
async def whoami(principal: PrincipalDep) -> WhoAmI:
    """The token's id, role and site: how an agent checks a scrape token shown to its `/metrics`."""
    return WhoAmI(id=principal.token_id, role=principal.role, site=principal.site)
