"""Placement benchmark: the optimizer against the greedy baseline on synthetic fleets.

    .venv/bin/python benchmarks/placement_bench.py                       # default sizes
    .venv/bin/python benchmarks/placement_bench.py --sizes 20x200,200x3000 --tight
    .venv/bin/python benchmarks/placement_bench.py --solvers highs,cpsat --time-limit 60

Every size runs in fresh subprocesses (so memory peaks do not accumulate): one plans
with the optimizer (`Planner(fleet).plan(PlanOptions(resilience=False))`), then with
the greedy baseline on the same planner, then (small sizes) plans a regenerated copy
of the fleet again to check that the assignments are identical; a second one times the
per-site resilience report (`resilience_report`) alone, killed after
`--resilience-limit` seconds. The fleets come from `fleetgen.generate` (seeded).

Times are wall-clock seconds. "plan" is Planner construction (compile the fleet,
filter every workload: candidates) plus `plan()`; the stage table splits it by
wrapping the planner's functions with timers (no change to the planner's code).
Peak memory is the child's RSS high-water mark (getrusage ru_maxrss).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleetgen
from placement_report import pct, report
from placement_stages import instrument, peak_rss_mb

DEFAULT_SIZES = "20x200,50x500,200x3000,500x10000,1000x20000"
TIGHT = 1.1
DETERMINISM_MAX_WORKLOADS = 3000


# ------------------------------------------------------------------------ helpers


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0.0
    try:
        import psutil

        ram = psutil.virtual_memory().total / 2**30
    except ImportError:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram, 1),
        "python": platform.python_version(),
        "highspy": ver("highspy"),
        "ortools": ver("ortools"),
        "numpy": ver("numpy"),
        "pydantic": ver("pydantic"),
        "platform": platform.platform(),
    }


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


# ------------------------------------------------------------------------ parent


def parse_size(text: str) -> tuple[int, int]:
    a, b = text.lower().split("x")
    return int(a), int(b)


def run_child(
    mode: str,
    size: tuple[int, int],
    args: argparse.Namespace,
    timeout: float | None,
    progress: str | None = None,
) -> tuple[dict[str, Any] | None, str, float]:
    """Run one child; kill it past `timeout` seconds or `--mem-limit` GB of RSS.
    Returns (result, error, highest RSS seen by the parent in MB)."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--sizes",
        f"{size[0]}x{size[1]}",
        "--tightness",
        str(args.tightness),
        "--seed",
        str(args.seed),
        "--time-limit",
        str(args.time_limit),
        "--solvers",
        ",".join(args.solvers),
        "--determinism-max",
        str(args.determinism_max),
    ]
    if progress:
        cmd += ["--progress", progress]
    try:
        import psutil
    except ImportError:  # pragma: no cover - bench extra not installed
        psutil = None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        t0 = time.perf_counter()
        seen = 0.0
        error = ""
        while proc.poll() is None:
            time.sleep(0.25)
            if psutil is not None:
                try:
                    seen = max(seen, psutil.Process(proc.pid).memory_info().rss / 2**20)
                except psutil.Error:
                    pass
            if timeout is not None and time.perf_counter() - t0 > timeout:
                error = "timeout"
            elif seen > args.mem_limit * 1024:
                error = f"killed at {seen / 1024:.1f} GB RSS (--mem-limit {args.mem_limit:g} GB)"
            if error:
                proc.kill()
                proc.wait()
                return None, error, seen
        out.seek(0)
        err.seek(0)
        for line in reversed(out.read().splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line[7:]), "", seen
        tail = "\n".join(err.read().strip().splitlines()[-15:])
        return None, f"exit {proc.returncode}: {tail}", seen


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fleetyard placement benchmark (optimizer vs greedy)")
    ap.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"sites x workloads, comma-separated ({DEFAULT_SIZES})",
    )
    ap.add_argument("--tight", action="store_true", help=f"capacity-tight fleets (tightness {TIGHT})")
    ap.add_argument("--tightness", type=float, default=0.75, help="GPU demand / GPU supply (default 0.75)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solvers", default="highs", help="highs[,cpsat]")
    ap.add_argument("--time-limit", type=float, default=60.0, help="optimizer time limit, s (OptimizerOptions)")
    ap.add_argument(
        "--resilience-limit",
        type=float,
        default=600.0,
        help="kill the resilience report after this many seconds",
    )
    ap.add_argument(
        "--plan-limit",
        type=float,
        default=3600.0,
        help="kill a size's planning child after this many seconds",
    )
    ap.add_argument("--mem-limit", type=float, default=14.0, help="kill a child above this RSS, GB")
    ap.add_argument("--no-resilience", action="store_true", help="skip the resilience report")
    ap.add_argument(
        "--determinism-max",
        type=int,
        default=DETERMINISM_MAX_WORKLOADS,
        help="plan twice (determinism check) up to this many workloads",
    )
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--report-from", type=Path, metavar="JSON", help="print the tables of an earlier --json run")
    ap.add_argument("--child", choices=("plan", "resilience"), help=argparse.SUPPRESS)
    ap.add_argument("--progress", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    if args.tight:
        args.tightness = TIGHT
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]

    if args.report_from:
        data = json.loads(args.report_from.read_text())
        print(f"command: {' '.join(data['argv'])}")
        print(report(data["results"], data["machine"]))
        return 0
    if args.child:
        args.size = sizes[0]
        result = child_plan(args) if args.child == "plan" else child_resilience(args)
        print("RESULT " + json.dumps(result))
        return 0

    info = machine()
    print(f"machine: {info}", flush=True)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    results: list[dict[str, Any]] = []
    for size in sizes:
        t0 = time.perf_counter()
        print(
            f"\n== {size[0]} sites x {size[1]:,} workloads, tightness {args.tightness} ...",
            flush=True,
        )
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            plan_progress = fh.name
        result, error, seen = run_child("plan", size, args, timeout=args.plan_limit, progress=plan_progress)
        if result is None:
            where: dict[str, Any] = {}
            try:
                where = json.loads(Path(plan_progress).read_text() or "{}")
            except (OSError, ValueError):
                pass
            if where:
                error += f"; in stage '{where['stage']}' (entered at {where['elapsed']} s)"
            result = {
                "sites": size[0],
                "workloads": size[1],
                "tightness": args.tightness,
                "error": error,
                "rss_seen_mb": round(seen),
                "last_stage": where,
            }
            print(f"   plan FAILED: {error}", flush=True)
        else:
            o, g = result["optimizer"], result["greedy"]
            print(
                f"   optimizer {o['total_s']:.2f} s ({o['status']}), ${o['cost']:,.2f}/h, "
                f"gap {pct(o['gap'])}, unplaced {o['replicas_unplaced']}; "
                f"greedy {g['plan_s']:.2f} s, ${g['cost']:,.2f}/h, "
                f"unplaced {g['replicas_unplaced']}; peak {result['rss_peak_mb']:.0f} MB",
                flush=True,
            )
        if not args.no_resilience and "error" not in result:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
                progress = fh.name
            res, err, _ = run_child("resilience", size, args, timeout=args.resilience_limit, progress=progress)
            if res is None:
                done: dict[str, Any] = {}
                try:
                    done = json.loads(Path(progress).read_text() or "{}")
                except (OSError, ValueError):
                    pass
                what = f"> {args.resilience_limit:.0f} s (killed)" if err == "timeout" else err
                res = {"error": what, **done}
                print(f"   resilience: {what}; failovers done: {done}", flush=True)
            else:
                print(
                    f"   resilience {res['seconds']:.2f} s, {res['greedy_failovers']} greedy + "
                    f"{res['exact_failovers']} exact failovers",
                    flush=True,
                )
            Path(progress).unlink(missing_ok=True)
            result["resilience"] = res
        Path(plan_progress).unlink(missing_ok=True)
        result["wall_s"] = round(time.perf_counter() - t0, 1)
        results.append(result)
        if args.json:
            args.json.write_text(json.dumps({"machine": info, "argv": sys.argv, "results": results}, indent=1))
    print()
    print(report(results, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
