"""The domain model: resources of format v1, loading and validation, the GPU catalog, plans."""

from __future__ import annotations

from fleetyard.spec.catalog import CATALOG, SERVER_POWER_FACTOR, GpuModel
from fleetyard.spec.errors import Problem, SpecError
from fleetyard.spec.fleet import Fleet, Origin
from fleetyard.spec.limits import DEFAULT_LIMITS, InputLimits
from fleetyard.spec.loader import Loaded, load_fleet, load_fleet_sources, load_fleet_text
from fleetyard.spec.models import (
    API_VERSION,
    GpuPool,
    Objective,
    Policy,
    Region,
    Site,
    Workload,
)

__all__ = [
    "API_VERSION",
    "CATALOG",
    "DEFAULT_LIMITS",
    "SERVER_POWER_FACTOR",
    "Fleet",
    "GpuModel",
    "GpuPool",
    "InputLimits",
    "Loaded",
    "Objective",
    "Origin",
    "Policy",
    "Problem",
    "Region",
    "Site",
    "SpecError",
    "Workload",
    "load_fleet",
    "load_fleet_sources",
    "load_fleet_text",
]
