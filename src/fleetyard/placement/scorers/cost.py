"""Cost: the hourly cost of one replica on the pool (rent + energy + carbon + egress)."""

from __future__ import annotations

from typing import ClassVar

from fleetyard.placement.context import FloatArray
from fleetyard.placement.framework import Context
from fleetyard.spec.models import Workload


class Cost:
    name: ClassVar[str] = "cost"
    unit: ClassVar[str] = "$/h per replica"

    def values(self, ctx: Context, w: Workload) -> FloatArray:
        return ctx.replica_costs(w).total
