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
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machineinfo import machine
from placement_children import child_plan, child_resilience
from placement_report import pct, report

DEFAULT_SIZES = "20x200,50x500,200x3000,500x10000,1000x20000"
TIGHT = 1.1
DETERMINISM_MAX_WORKLOADS = 3000


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

    info = machine("highspy", "ortools", "numpy", "pydantic")
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
