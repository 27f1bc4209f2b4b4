"""What a placement benchmark child process does: plan one size, or time its resilience report.

Run by `placement_bench.py --child plan|resilience` in a fresh process per size, so
memory peaks do not accumulate.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import inspect
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleetgen
from placement_stages import instrument, peak_rss_mb

# ------------------------------------------------------------------------ helpers


def model_objective(planner: Any, placement: Any) -> dict[str, float]:
    """Cost and shortfall penalty of a placement in the optimizer's own terms (objective.py)."""
    from fleetyard.placement.model import penalty_unit
    from fleetyard.placement.objective import objective

    cost, penalty = objective(planner.candidates, placement, penalty_unit(planner.candidates))
    return {"model_cost": round(cost, 2), "penalty": round(penalty, 2), "objective": round(cost + penalty, 2)}


def plan_summary(fleet: Any, plan: Any) -> dict[str, Any]:
    t = plan.totals
    gpus_of = {name: w.spec.replica.gpus for name, w in fleet.workloads.items()}
    unplaced_gpus = sum(u.replicas * gpus_of[u.workload] for u in plan.unplaced)
    weighted = sum(
        u.replicas * gpus_of[u.workload] * (1 + fleet.workloads[u.workload].spec.priority) for u in plan.unplaced
    )
    by_priority: dict[str, int] = {}
    for u in plan.unplaced:
        prio = str(fleet.workloads[u.workload].spec.priority)
        by_priority[prio] = by_priority.get(prio, 0) + u.replicas * gpus_of[u.workload]
    return {
        "cost": t.cost_per_hour,
        "unplaced_gpus_by_priority": by_priority,
        "bound": plan.bound.cost_per_hour_lower_bound,
        "gap": plan.bound.gap,
        "objective_bound": plan.bound.objective_lower_bound,
        "objective_gap": plan.bound.objective_gap,
        "service_gap": next((st.gap for st in plan.bound.stages if st.stage == "service"), None),
        "cost_stage_gap": next((st.gap for st in plan.bound.stages if st.stage == "cost"), None),
        "bound_method": plan.bound.method,
        "status": plan.solver.status,
        "variables": plan.solver.variables,
        "constraints": plan.solver.constraints,
        "replicas_placed": t.replicas_placed,
        "replicas_unplaced": t.replicas_unplaced,
        "unplaced_workloads": len(plan.unplaced),
        "unplaced_gpus": unplaced_gpus,
        "unplaced_priority_gpus": weighted,
        "gpus_used": t.gpus_used,
        "demand_rps": t.demand_rps,
        "unserved_rps": round(t.demand_rps - t.served_rps, 1),
        "carbon_kg": t.carbon_kg_per_hour,
        "notes": list(plan.solver.notes),
    }


def assignment_key(plan: Any) -> str:
    data = json.dumps(
        [[a.workload, a.site, a.gpu_sku, a.replicas] for a in plan.assignments]
        + [[r.workload, r.region, r.site, r.rps] for r in plan.routes]
    )
    return hashlib.sha256(data.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------ CP-SAT


def run_cpsat(planner: Any, time_limit: float) -> tuple[Any | None, str]:
    """Plan with a CP-SAT backend if one exists; (plan, message)."""
    if importlib.util.find_spec("fleetyard.placement.cpsat") is None:
        return None, "skipped: no module fleetyard.placement.cpsat"
    import dataclasses

    from fleetyard.placement import cpsat
    from fleetyard.placement.model import build_model
    from fleetyard.placement.optimizer import OptimizerOptions
    from fleetyard.placement.planner import PlanOptions

    fields = {f.name for f in dataclasses.fields(OptimizerOptions)}
    for name in ("solver", "backend"):
        if name in fields:
            opts = OptimizerOptions(**{name: "cpsat", "time_limit": time_limit})  # type: ignore[arg-type]
            return planner.plan(PlanOptions(optimizer=opts, resilience=False)), f"via OptimizerOptions.{name}"
    fn = getattr(cpsat, "solve_cpsat", None)
    if fn is None:
        return None, "skipped: fleetyard.placement.cpsat has no solve_cpsat"
    opts = OptimizerOptions(time_limit=time_limit)
    params = list(inspect.signature(fn).parameters)
    if params and params[0] in ("built", "model"):
        c = planner.compiled
        placement = fn(build_model(c, c.full_ledger(), planner.candidates), opts)
    elif params and params[0] == "ctx":
        placement = fn(planner.ctx, planner.runner, [], candidates=planner.candidates, options=opts)
    elif params and params[0] == "planner":
        placement = fn(planner, opts)
    else:
        return None, f"skipped: unknown solve_cpsat signature {params}"
    if hasattr(placement, "assignments"):
        return placement, "solve_cpsat"
    return planner.to_plan(placement, PlanOptions(resilience=False)), "solve_cpsat"


# ------------------------------------------------------------------------ children


def child_plan(args: argparse.Namespace) -> dict[str, Any]:
    from fleetyard.placement.optimizer import OptimizerOptions
    from fleetyard.placement.planner import Planner, PlanOptions

    sites, workloads = args.size
    out: dict[str, Any] = {
        "sites": sites,
        "workloads": workloads,
        "tightness": args.tightness,
        "seed": args.seed,
    }
    out["loadavg_start"] = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    fleet = fleetgen.generate(sites, workloads, args.seed, args.tightness)
    out["generate_s"] = round(time.perf_counter() - t0, 3)
    out["instance"] = fleetgen.describe(fleet)
    out["rss_fleet_mb"] = round(peak_rss_mb(), 1)
    stages = instrument(args.progress)
    opts = PlanOptions(optimizer=OptimizerOptions(time_limit=args.time_limit), resilience=False)

    t0 = time.perf_counter()
    planner = Planner(fleet)
    t1 = time.perf_counter()
    placement = planner.place(opts)
    plan = planner.to_plan(placement, opts)
    t2 = time.perf_counter()
    out["optimizer"] = (
        plan_summary(fleet, plan)
        | model_objective(planner, placement)
        | {
            "init_s": round(t1 - t0, 3),
            "plan_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3),
            "stages": stages.snapshot(),
            "key": assignment_key(plan),
        }
    )
    out["rss_peak_mb"] = round(peak_rss_mb(), 1)

    stages.reset()
    t0 = time.perf_counter()
    gopts = PlanOptions(strategy="greedy", resilience=False)
    gplacement = planner.place(gopts)
    gplan = planner.to_plan(gplacement, gopts)
    out["greedy"] = (
        plan_summary(fleet, gplan)
        | model_objective(planner, gplacement)
        | {
            "plan_s": round(time.perf_counter() - t0, 3),
            "stages": stages.snapshot(),
        }
    )

    if workloads <= args.determinism_max:
        again = fleetgen.generate(sites, workloads, args.seed, args.tightness)
        plan2 = Planner(again).plan(opts)
        out["deterministic"] = {
            "fleet_equal": again == fleet,
            "plan_equal": assignment_key(plan2) == out["optimizer"]["key"],
            "cost_equal": plan2.totals.cost_per_hour == plan.totals.cost_per_hour,
        }

    if "cpsat" in args.solvers:
        stages.reset()
        t0 = time.perf_counter()
        try:
            cplan, how = run_cpsat(planner, args.time_limit)
        except Exception as exc:  # report, do not crash the benchmark
            cplan, how = None, f"failed: {type(exc).__name__}: {exc}"
        out["cpsat"] = {"message": how}
        if cplan is not None:
            out["cpsat"] |= plan_summary(fleet, cplan) | {"plan_s": round(time.perf_counter() - t0, 3)}
    out["rss_end_mb"] = round(peak_rss_mb(), 1)
    out["loadavg_end"] = round(os.getloadavg()[0], 2)
    return out


def child_resilience(args: argparse.Namespace) -> dict[str, Any]:
    from fleetyard.placement import resilience
    from fleetyard.placement.optimizer import OptimizerOptions
    from fleetyard.placement.planner import Planner, PlanOptions

    sites, workloads = args.size
    fleet = fleetgen.generate(sites, workloads, args.seed, args.tightness)
    planner = Planner(fleet)
    opts = OptimizerOptions(time_limit=args.time_limit)
    placement = planner.place(PlanOptions(optimizer=opts, resilience=False))
    stages = instrument()
    progress = Path(args.progress) if args.progress else None
    counts = {"greedy": 0, "exact": 0}
    original = resilience.failover

    def counted(*a: Any, **kw: Any) -> Any:
        counts["exact" if kw.get("exact", True) else "greedy"] += 1
        result = original(*a, **kw)
        if progress is not None:
            progress.write_text(json.dumps(counts | {"elapsed": round(time.perf_counter() - t0, 1)}))
        return result

    resilience.failover = counted
    t0 = time.perf_counter()
    report = resilience.resilience_report(planner, placement, opts)
    took = time.perf_counter() - t0
    hosting = len({int(planner.compiled.pool_site[p]) for pools in placement.replicas.values() for p in pools})
    return {
        "seconds": round(took, 3),
        "sites": len(report),
        "hosting": hosting,
        "not_absorbable": sum(1 for e in report if not e.absorbable),
        "greedy_failovers": counts["greedy"],
        "exact_failovers": counts["exact"],
        "stages": stages.snapshot(),
        "rss_peak_mb": round(peak_rss_mb(), 1),
    }
