"""Wire schemas of energy over time (issue 11): deferred jobs in status, the schedule, usage.
Re-exported by services/wire.py, the one place clients import wire models from."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fleetyard.services.wire_base import _Wire
from fleetyard.spec.timeplan import Schedule

__all__ = ["DeferredState", "DeferredStatus", "ScheduleOut", "UsageOut"]

DeferredState = Literal["waiting", "running", "done", "unscheduled"]


class DeferredStatus(_Wire):
    """One deferred job (issue 11) in `status`: where and when it runs next, or why it does not."""

    workload: str
    state: DeferredState  # waiting for its next slot | inside a slot now | past its last slot | unscheduled
    site: str | None = None
    gpu_sku: str | None = None
    replicas: int = 0
    next_start: datetime | None = None  # the slot running now or the next one
    next_end: datetime | None = None
    reason: str | None = None  # unscheduled: why


class ScheduleOut(Schedule):
    """`GET /api/v1/schedule`: the deferred-work schedule (`fleetyard schedule --format json`)
    the server made with plan `revision`, at `created_at`."""

    revision: int
    created_at: datetime


class UsageOut(_Wire):
    """One row of `GET /api/v1/usage`: what a site reported running in one UTC hour."""

    site: str
    workload: str
    gpu_sku: str
    hour: datetime
    replica_seconds: float
    gpu_seconds: float
    energy_kwh: float | None = None  # metered GPU energy (the report's gpu_power_w), None if not metered
