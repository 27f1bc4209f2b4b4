"""The domain model: resources of format v1, loading and validation, the GPU catalog, plans.

Names are loaded on first use (PEP 562), so `from fleetyard.spec import Problem` does
not build every pydantic model: the CLI's start-up pays only for what a command uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetyard.spec.catalog import CATALOG, SERVER_POWER_FACTOR, GpuModel
    from fleetyard.spec.errors import Problem, SpecError
    from fleetyard.spec.fleet import Fleet, Origin
    from fleetyard.spec.limits import DEFAULT_LIMITS, InputLimits
    from fleetyard.spec.loader import Loaded, load_fleet, load_fleet_sources, load_fleet_text
    from fleetyard.spec.models import API_VERSION, GpuPool, Objective, Policy, Region, Site, Workload

_HOME = {
    **dict.fromkeys(("CATALOG", "SERVER_POWER_FACTOR", "GpuModel"), "catalog"),
    **dict.fromkeys(("Problem", "SpecError"), "errors"),
    **dict.fromkeys(("Fleet", "Origin"), "fleet"),
    **dict.fromkeys(("DEFAULT_LIMITS", "InputLimits"), "limits"),
    **dict.fromkeys(("Loaded", "load_fleet", "load_fleet_sources", "load_fleet_text"), "loader"),
    **dict.fromkeys(("API_VERSION", "GpuPool", "Objective", "Policy", "Region", "Site", "Workload"), "models"),
}

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

assert sorted(__all__) == sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'fleetyard.spec' has no attribute {name!r}")
    value = getattr(import_module(f"fleetyard.spec.{home}"), name)
    globals()[name] = value
    return value
