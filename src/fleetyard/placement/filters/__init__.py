"""Hard constraints. Registry order is the order reasons are listed in."""

from __future__ import annotations

from collections.abc import Callable

from fleetyard.placement.filters.burst import Burst
from fleetyard.placement.filters.fabric import Fabric
from fleetyard.placement.filters.fit import Fit
from fleetyard.placement.filters.gpu import GpuMemory, GpuSku
from fleetyard.placement.filters.latency import LatencySlo
from fleetyard.placement.filters.residency import Residency
from fleetyard.placement.framework import Filter

REGISTRY: dict[str, Callable[[], Filter]] = {
    Residency.name: Residency,
    Burst.name: Burst,
    GpuSku.name: GpuSku,
    GpuMemory.name: GpuMemory,
    Fabric.name: Fabric,
    LatencySlo.name: LatencySlo,
    Fit.name: Fit,
}


def default_filters() -> list[Filter]:
    return [factory() for factory in REGISTRY.values()]


__all__ = ["REGISTRY", "Burst", "Fabric", "Fit", "GpuMemory", "GpuSku", "LatencySlo", "Residency", "default_filters"]
