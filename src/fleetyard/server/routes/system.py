"""`GET /healthz` (no token) and `GET /metrics` (viewer+)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleetyard.server.deps import ReaderDep, StateDep
from fleetyard.server.openapi import errors
from fleetyard.services.wire import HealthOut

router = APIRouter(tags=["system"])
TEXT = {"text/plain": {"schema": {"type": "string"}}}


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """Liveness; the only route without a token."""
    return HealthOut()


@router.get("/metrics", response_class=Response,
            responses={200: {"content": TEXT, "description": "Prometheus text format."}, **errors()})
def metrics(state: StateDep, _principal: ReaderDep) -> Response:
    """Prometheus text format (send the token as a bearer token from the scraper)."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
