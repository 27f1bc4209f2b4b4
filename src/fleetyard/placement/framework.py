"""The placement plugin interfaces: filters (hard constraints) and scorers (soft).

A filter looks at one workload and one (site, SKU) pool and returns *every* reason
the pool cannot host it; no reason means it can. A filter may also offer `mask`, the
same verdict for all pools at once as a boolean array (the fast path used on big
fleets; a property test checks that both agree). A scorer returns a raw value per
pool where lower is better (dollars, kg CO2, ms); the runner, not the scorer,
normalizes values to 0-100 and applies weights. New rules are one module and one
registry entry; the runner never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from fleetyard.placement.context import BoolArray, Compiled, FloatArray, Ledger
from fleetyard.placement.costmodel import CostModel, ReplicaCosts
from fleetyard.spec.models import Workload


@dataclass(frozen=True)
class Reason:
    """Why a pool was rejected.

    `code` is a named constant; `message` names the figures at this pool ("L4 has
    24 GB < 40 GB needed"); `summary` is the same reason without site-specific figures
    ("GPU memory < 40 GB"), used to count sites per reason; `plugin` is stamped by
    the runner.
    """

    code: str
    message: str
    summary: str = ""
    plugin: str = ""


class Code(StrEnum):
    OK = "ok"
    REJECTED = "rejected"
    ERROR = "error"


@dataclass(frozen=True)
class Status:
    code: Code
    reasons: tuple[Reason, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is Code.OK


@dataclass
class Context:
    """What plugins may read: the compiled fleet, the cost model, the free capacity."""

    compiled: Compiled
    costs: CostModel
    ledger: Ledger
    _replica_costs: dict[str, ReplicaCosts] | None = None
    # Masks that depend only on the fleet (a policy's sites, an SKU allow-list),
    # shared by every workload: filters may memoize here under their own keys.
    memo: dict[object, BoolArray] = field(default_factory=dict)

    def replica_costs(self, w: Workload) -> ReplicaCosts:
        if self._replica_costs is None:
            self._replica_costs = {}
        cached = self._replica_costs.get(w.name)
        if cached is None:
            cached = self.costs.replica_costs(w)
            self._replica_costs[w.name] = cached
        return cached

    def with_ledger(self, ledger: Ledger) -> Context:
        return Context(self.compiled, self.costs, ledger, self._replica_costs, self.memo)


class Filter(Protocol):
    name: ClassVar[str]

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        """All reasons this pool cannot host `w` (empty: it can)."""
        ...


@runtime_checkable
class VectorFilter(Filter, Protocol):
    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        """True for every pool that passes; must agree with `check`."""
        ...


class Scorer(Protocol):
    name: ClassVar[str]
    unit: ClassVar[str]

    def values(self, ctx: Context, w: Workload) -> FloatArray:
        """Raw value per pool, lower is better."""
        ...
