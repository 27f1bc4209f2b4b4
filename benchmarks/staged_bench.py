"""Staged objective benchmark (issue 8): both stage gaps, time and memory per fleet size,
against the greedy baseline in the same run, plus a re-plan after a one-workload change.

    .venv/bin/python benchmarks/staged_bench.py --sizes 20x200,50x500,200x3000

Each size runs in this process one after the other (run one size per command for
clean peak-memory figures). Service = priority-weighted GPU demand served
(docs/planning.md); "short" = the weighted GPUs left short, lower is better.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleetgen import generate
from machineinfo import machine

from fleetyard.placement import Planner, PlanOptions
from fleetyard.placement.movecost import running_from_assignments
from fleetyard.placement.objective import service_short


def _table(plan):  # type: ignore[no-untyped-def]
    return {(a.workload, a.site, a.gpu_sku): a.replicas for a in plan.assignments}


def run(size: str, tightness: float, replan: bool, resilience: bool = False) -> None:
    a, b = map(int, size.split("x"))
    fleet = generate(a, b, seed=0, tightness=tightness)
    t0 = time.perf_counter()
    planner = Planner(fleet)
    placement = planner.place(PlanOptions(resilience=False, explain=False))
    plan = planner.to_plan(placement, PlanOptions(resilience=False, explain=False))
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    base = planner.place(PlanOptions(strategy="greedy"))
    greedy_s = time.perf_counter() - t1
    base_plan = planner.to_plan(base, PlanOptions(strategy="greedy", resilience=False, explain=False))
    short, short_g = service_short(planner.candidates, placement), service_short(planner.candidates, base)
    stages = {s.stage: s for s in plan.bound.stages}
    sv, co = stages["service"], stages["cost"]
    print(f"{size} tightness {tightness}: plan {seconds:.1f} s, status {plan.solver.status}, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"  service {sv.value:,.0f} of {sv.demand:,.0f} (short {short:,.0f}), bound {sv.bound:,.0f}, "
          f"gap {100 * sv.gap:.2f}% [{sv.status}]")
    print(f"  cost ${co.value:,.2f}/h, bound ${co.bound:,.2f}/h, gap {100 * co.gap:.2f}% [{co.status}]")
    print(f"  greedy: {greedy_s:.1f} s, short {short_g:,.0f}, ${base_plan.totals.cost_per_hour:,.2f}/h; "
          f"optimizer serves {short_g - short:+,.0f} weighted GPUs more")
    if resilience:
        from collections import Counter

        from fleetyard.placement.resilience import resilience_report

        t3 = time.perf_counter()
        report = resilience_report(planner, placement)
        methods = Counter(e.method for e in report)
        print(f"  resilience report: {time.perf_counter() - t3:.1f} s, "
              f"{sum(e.absorbable for e in report)} of {len(report)} sites absorbable; "
              + ", ".join(f"{n} {m}" for m, n in sorted(methods.items())))
    if replan:
        name = sorted(fleet.workloads)[len(fleet.workloads) // 2]
        w = fleet.workloads[name]
        spec = w.spec.model_copy(update={"priority": min(1000, w.spec.priority + 1)})
        changed = dict(fleet.workloads)
        changed[name] = w.model_copy(update={"spec": spec})
        fleet2 = dataclasses.replace(fleet, workloads=changed)
        t2 = time.perf_counter()
        planner2 = Planner(fleet2)
        compile_s = time.perf_counter() - t2
        again = planner2.plan(PlanOptions(resilience=False, explain=False, changed=frozenset({name}),
                                          current=running_from_assignments(plan.assignments)))
        re_s = time.perf_counter() - t2
        before, after = _table(plan), _table(again)
        keys = [k for k in set(before) | set(after) if k[0] != name]
        stopped = sum(max(0, before.get(k, 0) - after.get(k, 0)) for k in keys)
        started = sum(max(0, after.get(k, 0) - before.get(k, 0)) for k in keys)
        moved = started + stopped
        print(f"  re-plan after changing {name}'s priority: {re_s:.1f} s ({compile_s:.1f} s of it compiling "
              f"the fleet), replicas of other workloads changed: {moved} ({stopped} stopped, {started} started), "
              f"replicas short {sum(u.replicas for u in again.unplaced)} "
              f"(was {sum(u.replicas for u in plan.unplaced)}), "
              f"cost ${again.totals.cost_per_hour:,.2f}/h "
              f"(was ${plan.totals.cost_per_hour:,.2f}/h)")
        for note in again.solver.notes:
            if note.startswith("incremental"):
                print(f"    {note}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="20x200,50x500,200x3000")
    ap.add_argument("--tightness", type=float, default=0.75)
    ap.add_argument("--no-replan", action="store_true")
    ap.add_argument("--resilience", action="store_true", help="also time the per-site resilience report")
    args = ap.parse_args()
    print(machine("highspy", "numpy"))
    for size in args.sizes.split(","):
        run(size, args.tightness, not args.no_replan, args.resilience)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
