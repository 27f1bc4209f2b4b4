"""What a plan spends on burst sites, what the caps left out, and the preference premium it paid.

`BurstAudit` reads a finished placement: the real hourly cost of work on burst sites
(exact egress share, as the plan's totals), per team; the premium the optimizer
charged (`burst.preference_premium`, reported apart from cost); and, for work left
short, the caps that bind - a cap binds for a workload when every burst-site pool
that still has room for another replica (a whole gang, for one-site gangs) would push
a cap's spend, in the model's terms, over its limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetyard.placement.burst import SPEND_TOL, TEAM_LABEL, Cap, on_burst_sites, rules_of
from fleetyard.placement.candidates import Candidates
from fleetyard.placement.context import Ledger
from fleetyard.placement.filters.fit import Fit
from fleetyard.placement.framework import Context
from fleetyard.placement.result import Placement
from fleetyard.spec.plan import BurstReport, BurstSpend

PREMIUM_BOUND_NOTE = (
    "; the burst preference premium is part of the optimized objective, so the cost bound holds "
    "for plans with no larger premium (no more work on less preferred site types)"
)


def _r(v: float) -> float:
    return round(float(v), 4)


class BurstAudit:
    def __init__(self, ctx: Context, cands: Sequence[Candidates], placement: Placement, free: Ledger) -> None:
        self.ctx = ctx
        self.placement = placement
        self.free = free
        c = ctx.compiled
        self.rules = rules_of(c)
        self.premium = 0.0  # $/h, the optimizer's premium of this plan
        self.spend = 0.0  # real $/h on burst sites (exact egress share)
        self.team_spend: dict[str, float] = {}
        self.model_spend: dict[str, float] = {cap.key: 0.0 for cap in self.rules.caps}  # linearized egress
        for cand in cands:
            pools = placement.replicas.get(cand.name)
            if not pools:
                continue
            index = {int(p): j for j, p in enumerate(cand.pools)}
            burst = on_burst_sites(c, cand)
            caps = self.rules.caps_for(cand.w)
            for p, n in pools.items():
                j = index.get(p)
                if j is None:
                    continue
                if len(cand.premium):
                    self.premium += n * float(cand.premium[j])
                if burst[j]:
                    for cap in caps:
                        self.model_spend[cap.key] += n * float(cand.real_cost[j])
            spent = self._exact_spend(cand, pools)
            if spent > 0:
                self.spend += spent
                team = cand.w.labels.get(TEAM_LABEL)
                if team is not None:
                    self.team_spend[team] = self.team_spend.get(team, 0.0) + spent

    def _exact_spend(self, cand: Candidates, pools: dict[int, int]) -> float:
        c = self.ctx.compiled
        burst_site = self.rules.burst_site
        per_site: dict[int, int] = {}
        for p, n in pools.items():
            s = int(c.pool_site[p])
            per_site[s] = per_site.get(s, 0) + n
        total = sum(per_site.values())
        if not total or not any(burst_site[s] for s in per_site):
            return 0.0
        costs = self.ctx.replica_costs(cand.w)
        egress = self.ctx.costs.egress_per_hour(cand.w, per_site)
        out = 0.0
        for p, n in pools.items():
            if burst_site[int(c.pool_site[p])]:
                out += n * float(costs.rent[p] + costs.energy[p] + costs.carbon_cost[p]) + egress * n / total
        return out

    def binding(self, cand: Candidates) -> list[Cap]:
        """The caps that keep more of `cand` off the burst sites that still have room."""
        caps = self.rules.caps_for(cand.w)
        if not caps or not len(cand.pools):
            return []
        burst = on_burst_sites(self.ctx.compiled, cand)
        fits = Fit().mask(self.ctx.with_ledger(self.free), cand.w)
        size = cand.unit if cand.single_pool else 1
        hit: list[Cap] = []
        open_pools = [j for j in range(len(cand.pools)) if burst[j] and fits[int(cand.pools[j])]]
        if not open_pools:
            return []
        for j in open_pools:
            cost = size * float(cand.real_cost[j])
            blocking = [cap for cap in caps if self.model_spend[cap.key] + cost > cap.limit + SPEND_TOL]
            if not blocking:
                return []  # a burst pool with room under every cap: something else holds the work back
            hit.extend(cap for cap in blocking if cap not in hit)
        return [cap for cap in caps if cap in hit]

    def reasons(self, cand: Candidates) -> list[str]:
        return [cap.reason() for cap in self.binding(cand)]

    def report(self, capped: Sequence[str]) -> BurstReport | None:
        spec = self.rules.spec
        if spec is None:
            return None
        teams = sorted(set(spec.per_team) | set(self.team_spend))
        by_team = {
            team: BurstSpend(spend_per_hour=_r(self.team_spend.get(team, 0.0)),
                             cap_per_hour=float(spec.per_team[team]) if team in spec.per_team else None)
            for team in teams
        }
        cap = float(spec.max_spend_per_hour) if spec.max_spend_per_hour is not None else None
        return BurstReport(spend_per_hour=_r(self.spend), cap_per_hour=cap, by_team=by_team, capped=list(capped),
                           burst_site_types=list(spec.burst_site_types), prefer=list(spec.prefer))
