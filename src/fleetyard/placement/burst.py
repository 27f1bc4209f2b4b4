"""Burst and fallback as policy: which sites are burst sites, the preference premium, spend caps.

The Objective's `burst` section (docs/planning.md, "Burst and fallback") says three things:

* `prefer`: an order of site types. A site whose type has rank r (0 for the first;
  types not listed rank after all listed ones) costs the optimizer an extra
  r x `premium_per_gpu_hour` per GPU-hour of a replica. The premium is added to
  `Candidates.cost` (what every solver minimizes) and kept apart in
  `Candidates.premium`, so plans are still priced with the real cost model.
* `burst_site_types` (default hyperscaler): which sites count as burst sites. The
  `burst` filter keeps `spec.burst: never` workloads off them.
* `max_spend_per_hour` and `per_team`: caps on the hourly cost of work on burst sites,
  fleet-wide and by the workload label `team`. The MILP gets one row per cap
  (`add_burst_caps`); the greedy baseline keeps a `SpendLedger`. Caps charge each
  replica its real cost with egress linearized as in the model (>= the exact share
  formula the plan reports), so a plan that meets a cap in the model meets it as reported.

Plans within a time-boxed failover (`whatif`, the per-site resilience report) re-place
only the displaced work and do not see the burst spend of the rest of the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from fleetyard.placement.context import BoolArray, Compiled, FloatArray
from fleetyard.placement.milp import INF
from fleetyard.spec.models import BurstSpec, Workload

if TYPE_CHECKING:
    from fleetyard.placement.candidates import Candidates
    from fleetyard.placement.model import BuiltModel

DEFAULT_BURST_SITE_TYPES = ("hyperscaler",)
TEAM_LABEL = "team"
FLEET = "fleet"  # key of the fleet-wide cap
SPEND_TOL = 1e-6  # $/h: caps are met to within this (solver feasibility tolerance)


@dataclass(frozen=True)
class Cap:
    """One cap on burst spend: fleet-wide (`team` None) or for one team."""

    key: str  # "fleet" or "team:<name>"
    limit: float  # $/h
    team: str | None = None

    @property
    def label(self) -> str:
        return "fleet-wide burst spend" if self.team is None else f"team {self.team} burst spend"

    def covers(self, w: Workload) -> bool:
        return self.team is None or w.labels.get(TEAM_LABEL) == self.team

    def reason(self) -> str:
        return f"burst cap: {self.label} capped at ${self.limit:,.2f}/h"


@dataclass(frozen=True)
class BurstRules:
    """The burst section compiled against one fleet."""

    spec: BurstSpec | None  # None: the Objective has no burst section
    burst_site: BoolArray  # per site
    site_rank: FloatArray  # per site, rank of its type in `prefer` (all 0 without it)
    caps: tuple[Cap, ...]

    @property
    def has_preference(self) -> bool:
        return self.spec is not None and bool(self.spec.prefer)

    def caps_for(self, w: Workload) -> list[Cap]:
        return [cap for cap in self.caps if cap.covers(w)]


def rules_of(compiled: Compiled) -> BurstRules:
    """The fleet's burst rules, derived once per compiled fleet."""
    cached = compiled.derived.get("burst")
    if cached is not None:
        return cast(BurstRules, cached)
    spec = compiled.fleet.objective.spec.burst
    burst_types = spec.burst_site_types if spec is not None else DEFAULT_BURST_SITE_TYPES
    types = np.array(compiled.site_type, dtype=object)
    burst_site = np.isin(types, list(burst_types)) if len(types) else np.zeros(0, dtype=bool)
    rank = np.zeros(compiled.n_sites)
    caps: list[Cap] = []
    if spec is not None:
        order: dict[str, float] = {t: float(i) for i, t in enumerate(spec.prefer)}
        rank = np.array([order.get(t, float(len(spec.prefer))) for t in compiled.site_type], dtype=np.float64)
        if spec.max_spend_per_hour is not None:
            caps.append(Cap(FLEET, float(spec.max_spend_per_hour)))
        caps.extend(Cap(f"team:{team}", float(limit), team) for team, limit in sorted(spec.per_team.items()))
    rules = BurstRules(spec, burst_site, rank, tuple(caps))
    compiled.derived["burst"] = rules
    return rules


def preference_premium(compiled: Compiled, w: Workload) -> FloatArray | None:
    """Premium per replica on every pool ($/h, not money: it only orders sites), or None
    when the Objective states no preference."""
    rules = rules_of(compiled)
    if not rules.has_preference or rules.spec is None:
        return None
    step = float(rules.spec.premium_per_gpu_hour)
    out: FloatArray = w.spec.replica.gpus * step * rules.site_rank[compiled.pool_site]
    return out


def on_burst_sites(compiled: Compiled, cand: Candidates) -> BoolArray:
    """Per candidate pool: is its site a burst site?"""
    out: BoolArray = rules_of(compiled).burst_site[cand.sites]
    return out


# --- the MILP ---------------------------------------------------------------------------------


def add_burst_caps(built: BuiltModel, compiled: Compiled) -> list[int]:
    """One row per cap: sum over burst-site pool columns of $/h per replica x replicas <= cap.

    A one-site gang's column is binary and stands for all N replicas (N x per-replica
    cost). Replicas pinned by a floor (failover) count, and a cap they already exceed
    is raised to their spend, so pinned work never makes the model infeasible."""
    rules = rules_of(compiled)
    rows: list[int] = []
    if not rules.caps:
        return rows
    lp = built.lp
    for cap in rules.caps:
        cols: list[int] = []
        vals: list[float] = []
        pinned = 0.0
        for wc in built.workloads:
            cand = wc.cand
            if not wc.pool_cols or not cap.covers(cand.w):
                continue
            index = {int(p): j for j, p in enumerate(cand.pools)}
            burst = on_burst_sites(compiled, cand)
            real = cand.real_cost
            size = cand.unit if cand.single_pool else 1
            for col, p in wc.pool_cols:
                j = index[p]
                if not burst[j]:
                    continue
                coef = size * float(real[j])
                cols.append(col)
                vals.append(coef)
                pinned += coef * float(lp.lb[col])
        if cols:
            rows.append(lp.add_row(cols, vals, -INF, max(cap.limit, pinned)))
    return rows


# --- the greedy baseline -----------------------------------------------------------------------


class SpendLedger:
    """Burst spend left under each cap while the greedy baseline places replicas."""

    def __init__(self, compiled: Compiled) -> None:
        self.compiled = compiled
        self.rules = rules_of(compiled)
        self.left: dict[str, float] = {cap.key: cap.limit for cap in self.rules.caps}
        self._of: dict[str, tuple[list[str], BoolArray, FloatArray]] = {}

    def _terms(self, cand: Candidates) -> tuple[list[str], BoolArray, FloatArray]:
        terms = self._of.get(cand.name)
        if terms is None:
            keys = [cap.key for cap in self.rules.caps_for(cand.w)]
            terms = (keys, on_burst_sites(self.compiled, cand), cand.real_cost)
            self._of[cand.name] = terms
        return terms

    def _budget(self, keys: Sequence[str]) -> float:
        return min(self.left[k] for k in keys)

    def restrict(self, cand: Candidates, k: int, ok: BoolArray) -> None:
        """Clear `ok` where `k` more replicas would push burst spend over a cap."""
        if not self.left:
            return
        keys, burst, real = self._terms(cand)
        if keys:
            ok &= ~burst | (k * real <= self._budget(keys) + SPEND_TOL)

    def room(self, cand: Candidates, j: int) -> int | None:
        """Replicas the caps allow on candidate j (None: no cap applies)."""
        if not self.left:
            return None
        keys, burst, real = self._terms(cand)
        if not keys or not burst[j] or real[j] <= 0:
            return None
        return max(0, int((self._budget(keys) + SPEND_TOL) // float(real[j])))

    def take(self, cand: Candidates, j: int, k: int) -> None:
        if not self.left:
            return
        keys, burst, real = self._terms(cand)
        if burst[j]:
            for key in keys:
                self.left[key] -= k * float(real[j])


def rank_key(cand: Candidates) -> FloatArray | None:
    """The greedy baseline's ranking when a preference is stated: cost + premium per
    replica (as the optimizer sees it) instead of the runner's scores; None otherwise."""
    if not len(cand.premium) or not cand.premium.any():
        return None
    out: FloatArray = cand.cost.copy()
    return out

