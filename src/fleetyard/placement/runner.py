"""The runner: applies every filter and scorer to a workload, keeping every reason.

`feasible` is the fast path (vector masks) the solvers use; `evaluate` also
collects, per site, all reasons of every filter, stamped with the plugin name, and
the summary line Kubernetes users know: ``0/12 sites are available: 7 country US
not allowed by policy eu-residency, 5 L4 has 24 GB < 40 GB needed``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetyard.placement.context import BoolArray, FloatArray
from fleetyard.placement.filters import default_filters
from fleetyard.placement.framework import Code, Context, Filter, Reason, Scorer, Status, VectorFilter
from fleetyard.placement.scorers import DEFAULT_WEIGHTS, default_scorers
from fleetyard.spec.models import Workload


@dataclass(frozen=True)
class SiteVerdict:
    site: str
    status: Status
    feasible_pools: tuple[int, ...]
    pool_reasons: dict[int, tuple[Reason, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    workload: Workload
    feasible: BoolArray  # per pool
    sites: tuple[SiteVerdict, ...]

    @property
    def n_feasible_sites(self) -> int:
        return sum(1 for s in self.sites if s.status.ok)

    def summary(self) -> str:
        """`k/n sites are available: 3 <reason>, 2 <reason>`.

        A site counts once for each reason of its *nearest miss*: the pool(s) that fail
        the fewest filters (a site whose H100s only lack cooling counts for cooling,
        not for the memory of its L4s)."""
        counts: Counter[str] = Counter()
        for verdict in self.sites:
            if verdict.status.ok or not verdict.pool_reasons:
                continue
            fewest = min(len(rs) for rs in verdict.pool_reasons.values())
            nearest = [r for rs in verdict.pool_reasons.values() if len(rs) == fewest for r in rs]
            for message in dict.fromkeys(r.summary or r.message for r in nearest):
                counts[message] += 1
        parts = [f"{n} {message}" for message, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        head = f"{self.n_feasible_sites}/{len(self.sites)} sites are available"
        return head + (": " + ", ".join(parts) if parts else "")


class Runner:
    def __init__(
        self,
        filters: Sequence[Filter] | None = None,
        scorers: Sequence[Scorer] | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        self.filters = list(filters) if filters is not None else default_filters()
        self.scorers = list(scorers) if scorers is not None else default_scorers()
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        # runtime Protocol checks are slow; decide once which filters have the fast path
        self._vector = [isinstance(f, VectorFilter) for f in self.filters]

    def masks(self, ctx: Context, w: Workload) -> dict[str, BoolArray]:
        out: dict[str, BoolArray] = {}
        for f, vector in zip(self.filters, self._vector, strict=True):
            if vector:
                out[f.name] = np.asarray(f.mask(ctx, w), dtype=np.bool_)  # type: ignore[attr-defined]
            else:
                out[f.name] = np.array([not f.check(ctx, w, p) for p in range(ctx.compiled.n_pools)], dtype=bool)
        return out

    def feasible(self, ctx: Context, w: Workload) -> BoolArray:
        ok = np.ones(ctx.compiled.n_pools, dtype=bool)
        for mask in self.masks(ctx, w).values():
            ok &= mask
        return ok

    def reasons(self, ctx: Context, w: Workload, pool: int) -> tuple[Reason, ...]:
        out: list[Reason] = []
        for f in self.filters:
            for r in f.check(ctx, w, pool):
                out.append(Reason(r.code, r.message, r.summary, f.name))
        return tuple(out)

    def evaluate(self, ctx: Context, w: Workload) -> Evaluation:
        c = ctx.compiled
        feasible = self.feasible(ctx, w)
        verdicts: list[SiteVerdict] = []
        for s, name in enumerate(c.site_names):
            pools = c.site_pools[s]
            ok_pools = tuple(int(p) for p in pools if feasible[p])
            pool_reasons = {int(p): self.reasons(ctx, w, int(p)) for p in pools if not feasible[p]}
            if ok_pools:
                status = Status(Code.OK)
            else:
                merged = tuple(dict.fromkeys(r for rs in pool_reasons.values() for r in rs))
                status = Status(Code.REJECTED, merged)
            verdicts.append(SiteVerdict(name, status, ok_pools, pool_reasons))
        return Evaluation(w, feasible, tuple(verdicts))

    def raw_scores(self, ctx: Context, w: Workload) -> dict[str, FloatArray]:
        return {s.name: np.asarray(s.values(ctx, w), dtype=np.float64) for s in self.scorers}

    def rank(self, ctx: Context, w: Workload, pools: Sequence[int]) -> FloatArray:
        """A sort key per pool, lower is better: the weighted scores, each normalized over
        `pools` (for a single weighted scorer this orders exactly by its raw value)."""
        return -self.score(ctx, w, pools)

    def score(self, ctx: Context, w: Workload, pools: Sequence[int]) -> FloatArray:
        """Weighted 0-100 score of the given pools (higher is better), normalized among them."""
        idx = np.asarray(pools, dtype=np.int64)
        total = np.zeros(len(idx))
        if len(idx) == 0:
            return total
        for name, values in self.raw_scores(ctx, w).items():
            weight = self.weights.get(name, 0.0)
            if weight == 0.0:
                continue
            v = values[idx]
            lo, hi = float(v.min()), float(v.max())
            norm = np.full(len(idx), 100.0) if hi - lo < 1e-12 else 100.0 * (hi - v) / (hi - lo)
            total += weight * norm
        return total
