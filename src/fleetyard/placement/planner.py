"""`Planner`: compile a fleet once, then plan, explain and re-plan against it.

    planner = Planner(fleet)
    plan = planner.plan()                      # optimizer, with resilience report
    plan = planner.plan(strategy="greedy")     # the baseline
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from fleetyard.placement.assemble import assemble
from fleetyard.placement.burstreport import BurstAudit
from fleetyard.placement.candidates import Candidates, build_candidates
from fleetyard.placement.context import compile_fleet
from fleetyard.placement.costmodel import CostModel
from fleetyard.placement.explain import (
    WorkloadExplanation,
    describe_needs,
    site_explanations,
    unplaced_reasons,
    unserved_by_region,
)
from fleetyard.placement.framework import Context
from fleetyard.placement.greedy import greedy
from fleetyard.placement.incremental import local_replan
from fleetyard.placement.movecost import MoveCosts, MovePolicy, running_start
from fleetyard.placement.optimizer import OptimizerOptions, optimize
from fleetyard.placement.resilience import optimize_n1, resilience_report
from fleetyard.placement.result import Placement
from fleetyard.placement.runner import Runner
from fleetyard.placement.usage import free_ledger
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.plan import Plan, ResilienceEntry

Strategy = Literal["optimizer", "greedy"]
STRATEGIES: tuple[Strategy, ...] = ("optimizer", "greedy")


@dataclass(frozen=True)
class PlanOptions:
    strategy: Strategy = "optimizer"
    optimizer: OptimizerOptions = field(default_factory=OptimizerOptions)
    resilience: bool = True  # report, per site, whether its loss alone is absorbable
    explain: bool = True  # a one-line reason per workload
    # Re-plans: the running plan (workload -> (site, SKU) -> replicas). Work moves only
    # when that saves more than the move cost (`movecost`); ties keep what runs.
    current: Mapping[str, Mapping[tuple[str, str], int]] | None = None
    move_policy: MovePolicy = field(default_factory=MovePolicy)
    model_gb: Mapping[str, float] = field(default_factory=dict)  # model reference -> size, for move costs
    # What changed since the running plan (workload and site names): a re-plan re-solves
    # only their neighbourhood (`incremental`) unless `replan` is "full" or the change is big.
    changed: frozenset[str] = frozenset()
    changed_sites: frozenset[str] = frozenset()
    replan: Literal["auto", "full"] = "auto"


class Planner:
    def __init__(self, fleet: Fleet, runner: Runner | None = None) -> None:
        # Deferrable work (a `schedule`, issue 11) is placed in time by energy/, not here.
        self.deferred = [w.name for w in fleet.deferred()]
        fleet = fleet.always_on()
        self.fleet = fleet
        self.compiled = compile_fleet(fleet)
        self.ctx = Context(self.compiled, CostModel(self.compiled), self.compiled.full_ledger())
        self.runner = runner or Runner()
        self.candidates: list[Candidates] = [
            build_candidates(self.ctx, self.runner, w) for w in fleet.workloads.values()
        ]
        self.by_name = {c.name: c for c in self.candidates}

    def place(self, options: PlanOptions | None = None) -> Placement:
        opts = options or PlanOptions()
        if opts.strategy == "greedy":
            return greedy(self.ctx, self.runner, self.candidates)
        if self.fleet.objective.spec.resilience == "n-1":
            return optimize_n1(self, opts.optimizer)
        t0 = time.perf_counter()
        moves = None
        if opts.current is not None:
            moves = MoveCosts(self.compiled, opts.current, opts.move_policy, opts.model_gb)
            if opts.replan == "auto":
                local = local_replan(self, opts.optimizer, moves, opts.changed, opts.changed_sites)
                if local is not None:
                    local.seconds = time.perf_counter() - t0
                    local.notes.append(_move_note(opts))
                    return local
            free, kept = running_start(self.compiled, self.candidates, moves)
            start = greedy(self.ctx, self.runner, self.candidates, ledger=free, existing=kept)
            start.notes.append("re-plan: started from the running plan")
        else:
            start = greedy(self.ctx, self.runner, self.candidates)
        left = max(1.0, opts.optimizer.time_limit - (time.perf_counter() - t0))
        placement = optimize(self.ctx, self.runner, [], candidates=self.candidates,
                             options=replace(opts.optimizer, time_limit=left), start=start, moves=moves)
        if moves is not None:
            placement.notes.append(_move_note(opts))
        return placement

    def plan(self, options: PlanOptions | None = None) -> Plan:
        opts = options or PlanOptions()
        placement = self.place(opts)
        return self.to_plan(placement, opts)

    def to_plan(self, placement: Placement, options: PlanOptions | None = None,
                down: Sequence[str] = ()) -> Plan:
        """Price, explain and (optionally) check the resilience of a placement.
        `down` names failed sites (a what-if): they offer no capacity."""
        opts = options or PlanOptions()
        report: list[ResilienceEntry] = []
        if opts.resilience:
            report = resilience_report(self, placement, opts.optimizer)
        failed = [self.compiled.site_index[s] for s in down]
        plan = assemble(self.ctx, self.runner, self.candidates, placement, report, explain=opts.explain,
                        down=failed)
        return plan.model_copy(update={"deferred": self.deferred}) if self.deferred else plan


def _move_note(opts: PlanOptions) -> str:
    policy = opts.move_policy
    return ("re-plan: replicas started away from the running plan pay a move cost "
            f"(${policy.per_gpu:g}/GPU + ${policy.per_gb:g}/GB fetched, over {policy.payback_hours:g} h)")


def plan_fleet(fleet: Fleet, options: PlanOptions | None = None) -> Plan:
    return Planner(fleet).plan(options)


def explain_workload(planner: Planner, placement: Placement, name: str) -> WorkloadExplanation:
    """Every site's verdict for one workload in a finished placement."""
    ctx, c = planner.ctx, planner.compiled
    cand = planner.by_name[name]
    w = cand.w
    evaluation = planner.runner.evaluate(ctx, w)
    free = free_ledger(c, placement)
    rows = site_explanations(ctx, planner.runner, evaluation, placement, free)
    unserved = unserved_by_region(ctx, cand, placement)
    reasons: list[str] = []
    if placement.missing.get(name) or unserved or placement.spread_short.get(name):
        reasons = [*BurstAudit(ctx, planner.candidates, placement, free).reasons(cand),
                   *unplaced_reasons(ctx, planner.runner, cand, placement, free, unserved)]
    routes = tuple(
        (c.region_names[g], c.site_names[s], round(rps, 3), float(c.rtt[s, g]))
        for (g, s), rps in sorted(placement.routes.get(name, {}).items())
    )
    return WorkloadExplanation(
        workload=name, type=w.spec.type, priority=w.spec.priority, needs=describe_needs(w),
        policies=tuple(p.name for p in planner.fleet.policies_for(w)), summary=evaluation.summary(),
        sites=tuple(rows), routes=routes, unplaced_reasons=tuple(reasons), unserved=unserved)
