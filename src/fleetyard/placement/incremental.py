"""Incremental re-plans: after a small change, re-solve only the work it touches.

A re-plan after one workload is added or edited, or one site changes, should move
nothing else and take seconds, on any fleet size. With the running plan known
(`movecost.MoveCosts`), the re-plan is local:

1. Keep what still fits of the running plan (`movecost.running_start`).
2. The *dirty* workloads must be placed again: the changed ones (new ones among
   them: name them in `changed`), those whose running replicas no longer all fit (a
   site shrank or went down, a policy moved, `replicas.max` fell), those on a
   changed site, and, up to the size limit, those the running plan leaves short or
   does not place (highest priority first, new before old: freed capacity may now
   serve them).
3. The neighbourhood is the dirty workloads and the work that may make room for
   them (`neighbourhood.movable_workloads`); it is solved with the staged objective
   and the move costs against the capacity the rest of the fleet leaves free. The
   rest of the fleet stays exactly where it runs.

So only the neighbourhood can move, and within it a replica moves only to serve
more (priority first) or to save more than its move cost. The stage bounds in the
plan are conditional: they are proven for the neighbourhood with the rest of the
fleet held where it runs (the method says so); `fleetyard plan` without a running
plan, or `PlanOptions(replan="full")`, re-plans the whole fleet with fleet-wide
bounds. A re-plan is fleet-wide anyway when the change is large (more than
`MAX_SHARE` of the workloads dirty), when burst spend caps apply (a cap is
fleet-wide), or under `resilience: n-1`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from fleetyard.placement.context import Ledger
from fleetyard.placement.greedy import greedy
from fleetyard.placement.model import penalty_unit
from fleetyard.placement.movecost import MoveCosts, running_start
from fleetyard.placement.neighbourhood import merge, movable_workloads, neighbourhood
from fleetyard.placement.objective import objective, service_short, weighted_demand
from fleetyard.placement.optimizer import OptimizerOptions, optimize
from fleetyard.placement.result import Placement, StageResult
from fleetyard.placement.stages import cost_stage, service_stage
from fleetyard.placement.usage import UsageIndex

if TYPE_CHECKING:
    from fleetyard.placement.planner import Planner

MAX_SHARE = 0.05  # above this share of the workloads dirty, re-plan the whole fleet
MIN_LOCAL = 20  # ... but a neighbourhood of this many dirty workloads is always local
MAX_SHORT = 20  # work left short by the running plan re-tried per re-plan (highest priority first)
EXACT_MAX_COLUMNS = 30_000  # a neighbourhood is solved as one MIP per stage (node-limited) up to this size
LOCAL_METHOD = "local re-plan: proven for the changed work and its neighbourhood, the rest held where it runs"


def local_replan(planner: Planner, options: OptimizerOptions, moves: MoveCosts,
                 changed: Collection[str] = (), changed_sites: Collection[str] = ()) -> Placement | None:
    """The re-plan of the neighbourhood of a change, or None when it must be fleet-wide."""
    fleet = planner.fleet
    spec = fleet.objective.spec
    if spec.resilience == "n-1" or (spec.burst is not None and spec.burst.has_caps):
        return None
    c = planner.compiled
    free, kept = running_start(c, planner.candidates, moves)
    held = Placement("running", replicas={w: dict(p) for w, p in kept.items()})
    nothing = Ledger(np.zeros_like(free.gpus), np.zeros_like(free.it_kw), np.zeros_like(free.cooling_kw), "free")
    routed = greedy(planner.ctx, planner.runner, planner.candidates, ledger=nothing, existing=kept)
    limit = max(MIN_LOCAL, int(MAX_SHARE * len(planner.candidates)))
    dirty = _dirty(planner, moves, kept, routed, set(changed), set(changed_sites), limit)
    if dirty is None:
        return None
    index = UsageIndex(c, held)
    movable = movable_workloads(planner, held, dirty, set(), index)
    names = [*dirty, *movable]
    near = neighbourhood(planner, names, set(dirty), held, set())
    room = index.free_without(names)  # what the rest of the fleet, held where it runs, leaves free
    start = greedy(planner.ctx, planner.runner, near, ledger=free, existing={w: kept[w] for w in names if w in kept})
    if not any(len(cd.pools) for cd in near):  # nothing changed, or nothing of it can run anywhere
        partial = start
        why = "nothing to re-place" if not near else "nothing of it can be placed"
        partial.stages = [StageResult("service", 0.0, 0.0, 0.0, "optimal", why),
                          StageResult("cost", 0.0, 0.0, 0.0, "optimal", why)]
    else:
        partial = optimize(planner.ctx, planner.runner, [], ledger=room, candidates=near,
                           options=replace(options, staged=True,
                                           exact_max_columns=max(options.exact_max_columns, EXACT_MAX_COLUMNS)),
                           start=start, moves=moves)
        if not partial.stages:  # the solver failed: re-plan the whole fleet instead
            return None
    out = merge(routed, partial, names)
    out.strategy = "optimizer"
    out.variables, out.constraints = partial.variables, partial.constraints
    out.notes = [*partial.notes, f"incremental re-plan: {len(dirty)} changed workload(s) and {len(movable)} "
                 f"that may make room for them re-solved; the other {len(planner.candidates) - len(names)} "
                 "stay where they run"]
    _fleet_stages(planner, partial, out)
    return out


def _dirty(planner: Planner, moves: MoveCosts, kept: dict[str, dict[int, int]], routed: Placement,
           changed: set[str], changed_sites: set[str], limit: int) -> list[str] | None:
    """Workloads that must be placed again (None: too many for a local re-plan)."""
    c = planner.compiled
    site_ids = {c.site_index[s] for s in changed_sites if s in c.site_index}
    must: list[str] = []
    short: list[str] = []
    for cand in planner.candidates:
        name = cand.name
        running = moves.pools_of(name)
        if (name in changed or kept.get(name, {}) != running
                or any(int(c.pool_site[p]) in site_ids for p in running)):
            must.append(name)
        elif routed.missing.get(name) or routed.spread_short.get(name) or service_short([cand], routed) > 1e-9:
            short.append(name)  # incl. work the running plan does not place (new, if not named in `changed`)
    if len(must) > limit:
        return None
    if not must and not changed and not changed_sites:
        return []  # nothing changed: the running plan stands (a full re-plan may still serve more)
    workloads = planner.fleet.workloads
    short.sort(key=lambda w: (-workloads[w].spec.priority, moves.tracks(w), w))
    return must + short[: max(0, min(MAX_SHORT, limit - len(must)))]


def _fleet_stages(planner: Planner, partial: Placement, out: Placement) -> None:
    """Fleet-wide stage figures: the merged plan's values, with the neighbourhood's
    proven gaps (the bounds hold with the rest of the fleet where it runs)."""
    cands = planner.candidates
    demand = weighted_demand(cands)
    served = demand - service_short(cands, out)
    unit = penalty_unit(cands)
    cost, penalty = objective(cands, out, unit)
    out.objective = cost
    stages: list[StageResult] = []
    for st in partial.stages:
        slack = abs(st.bound - st.value)
        method = f"{LOCAL_METHOD} ({st.method})"
        if st.stage == "service":
            short = demand - served
            stages.append(service_stage(short, short - slack, demand, st.status, method, st.seconds))
        else:
            stages.append(cost_stage(cost, cost - slack, st.status, method, st.seconds))
    out.stages = stages
    out.status = partial.status
    priced = next((s for s in stages if s.stage == "cost"), None)
    out.bound = priced.bound if priced is not None else None
    out.penalty = penalty
    service = next((s for s in stages if s.stage == "service"), None)
    if service is not None and out.bound is not None:  # as `stages.apply_stages` does
        out.objective_bound = min(cost + penalty, out.bound + max(0.0, demand - service.bound) * unit)
    out.bound_method = LOCAL_METHOD
    out.seconds = partial.seconds
