"""Carbon: kg CO2 per hour of one replica on the pool (IT power x PUE x grid intensity)."""

from __future__ import annotations

from typing import ClassVar

from fleetyard.placement.context import FloatArray
from fleetyard.placement.framework import Context
from fleetyard.spec.models import Workload


class Carbon:
    name: ClassVar[str] = "carbon"
    unit: ClassVar[str] = "kg CO2/h per replica"

    def values(self, ctx: Context, w: Workload) -> FloatArray:
        return ctx.replica_costs(w).carbon_kg
