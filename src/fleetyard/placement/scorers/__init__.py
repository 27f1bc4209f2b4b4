"""Soft preferences: raw values per pool, lower is better; the runner weighs them."""

from __future__ import annotations

from collections.abc import Callable

from fleetyard.placement.framework import Scorer
from fleetyard.placement.scorers.carbon import Carbon
from fleetyard.placement.scorers.cost import Cost
from fleetyard.placement.scorers.latency import Latency

REGISTRY: dict[str, Callable[[], Scorer]] = {
    Cost.name: Cost,
    Carbon.name: Carbon,
    Latency.name: Latency,
}

# The greedy baseline ranks by cost (carbon is already priced into it); latency and
# carbon are shown in explanations.
DEFAULT_WEIGHTS: dict[str, float] = {Cost.name: 1.0, Carbon.name: 0.0, Latency.name: 0.0}


def default_scorers() -> list[Scorer]:
    return [factory() for factory in REGISTRY.values()]


__all__ = ["DEFAULT_WEIGHTS", "REGISTRY", "Carbon", "Cost", "Latency", "default_scorers"]
