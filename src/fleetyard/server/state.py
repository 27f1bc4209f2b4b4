"""What one app instance holds: settings, database, registry, use cases, metrics, body limits,
background jobs."""

from __future__ import annotations

from dataclasses import dataclass

from anyio import CapacityLimiter

from fleetyard.registry import Store
from fleetyard.server.background import Background
from fleetyard.server.body import BodyLimits
from fleetyard.server.heartbeats import HeartbeatWriter
from fleetyard.server.metrics import Metrics
from fleetyard.server.settings import Settings
from fleetyard.services.apply import FleetService
from fleetyard.services.db import Database
from fleetyard.services.objects import ObjectService
from fleetyard.services.rollouts import RolloutService
from fleetyard.services.secret_box import SecretBox

__all__ = ["AppState"]


@dataclass
class AppState:
    settings: Settings
    db: Database
    store: Store
    fleet: FleetService
    objects: ObjectService
    metrics: Metrics
    limits: BodyLimits
    apply_threads: CapacityLimiter | None = None
    background: Background | None = None
    rollouts: RolloutService | None = None
    heartbeats: HeartbeatWriter | None = None  # None: a transaction per heartbeat
    secrets: SecretBox | None = None  # issue 14: the master key of Secret values (services/secret_box.py)
