"""`create_app(settings)`: the FastAPI app of one control plane server.

Building the app opens the registry folder (creating it on first use) and the
database engine; it does not migrate - `bootstrap` does, before serving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fleetyard import __version__
from fleetyard.registry import open_store
from fleetyard.server.background import Background, Job
from fleetyard.server.body import BodyLimits
from fleetyard.server.errors import install_error_handlers
from fleetyard.server.heartbeats import HeartbeatWriter
from fleetyard.server.metrics import Metrics, install_request_metrics
from fleetyard.server.openapi import install_openapi
from fleetyard.server.routes import admin, energy, events, fleet, metrics_api, registry, rollouts, sites, system
from fleetyard.server.routes import plan_history as plan_history_routes
from fleetyard.server.settings import Settings
from fleetyard.server.state import AppState
from fleetyard.server.web import install as install_dashboard
from fleetyard.services.apply import FleetService
from fleetyard.services.db import Database
from fleetyard.services.failover import FailoverJob, FailoverSettings
from fleetyard.services.leader import Leadership
from fleetyard.services.objects import ObjectService
from fleetyard.services.planning import PlanSettings
from fleetyard.services.rollouts import RolloutService
from fleetyard.services.schedules import ScheduleSettings
from fleetyard.services.secret_box import load_or_create_key
from fleetyard.services.telemetry.retention import RetentionJob
from fleetyard.services.telemetry.rollup import RollupJob
from fleetyard.services.webhook import WebhookJob

__all__ = ["background_jobs", "create_app", "make_state"]


def make_state(settings: Settings) -> AppState:
    box, _made = load_or_create_key(settings.secrets_key_path, create=settings.secrets_key_file is None)
    db = Database(settings.db_url)
    store = open_store(settings.registry_path, create=True)
    plan = PlanSettings(time_limit=settings.plan_time_limit, resilience=settings.plan_resilience)
    state = AppState(settings=settings, db=db, store=store,
                     fleet=FleetService(db, store, plan, failover=settings.failover, schedule=ScheduleSettings(
                         slot_s=settings.schedule_slot_s, objective=settings.schedule_objective,
                         extend=settings.schedule_extend), attested=settings.attested_capacity,
                         secrets=box),
                     secrets=box,
                     objects=ObjectService(store, db), metrics=Metrics(db, settings.heartbeat_interval),
                     limits=BodyLimits.of(settings))
    state.rollouts = RolloutService(db, store, settings.heartbeat_interval)
    if settings.heartbeat_batch > 1:
        state.heartbeats = HeartbeatWriter(db, lambda session, p: sites.store_report(
            state, session, p.header, p.site, p.body, p.peer), max_batch=settings.heartbeat_batch)
    state.background = Background(background_jobs(state), settings.tick_interval, leader=Leadership(db),
                                  on_leading=lambda leading: state.metrics.leader.set(1 if leading else 0))
    return state


def background_jobs(state: AppState) -> list[tuple[str, Job]]:
    """The control plane's own jobs, in the order they run each tick (server/background.py)."""
    s = state.settings
    jobs: list[tuple[str, Job]] = []
    jobs.append(("failover", FailoverJob(state.db, state.fleet, FailoverSettings(
        enabled=s.failover, grace=s.failover_grace, hold_off=s.failover_hold_off,
        heartbeat_interval=s.heartbeat_interval, tick_interval=s.tick_interval))))
    if state.rollouts is not None:  # after failover: a re-plan's sites are the rollout's candidates
        jobs.append(("rollouts", state.rollouts.tick))
    jobs.append(("webhook", WebhookJob(state.db, s.event_webhook)))
    jobs.append(("telemetry-rollup", RollupJob(state.db)))
    jobs.append(("telemetry-retention", RetentionJob(state.db, s.retention)))  # after rollup: it frees rows
    return jobs


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for `settings` (default: from FLEETYARD_* environment variables)."""
    state = make_state(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        assert state.background is not None
        state.background.start()
        try:
            yield
        finally:
            await state.background.stop()
            if state.heartbeats is not None:
                state.heartbeats.close()
            state.db.dispose()

    app = FastAPI(
        title="fleetyard control plane",
        version=__version__,
        description="API v1 of docs/api.md: resources, plan, desired state, status, registry, tokens, audit, "
                    "events, metrics (telemetry history). "
                    "Every error answers `ErrorOut` (`detail`, `problems`).",
        lifespan=lifespan,
    )
    app.state.fleetyard = state
    install_error_handlers(app)
    install_openapi(app)
    for module in (system, fleet, sites, registry, admin, events, rollouts, energy, metrics_api, plan_history_routes):
        app.include_router(module.router)
    install_dashboard(app)  # /ui: the web dashboard (server/web/, docs/dashboard.md)
    install_request_metrics(app)
    return app
