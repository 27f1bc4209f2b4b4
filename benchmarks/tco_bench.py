"""How long `fleetyard tco` takes, end to end and by stage, beside `plan` on the same fleet.

    .venv/bin/python benchmarks/tco_bench.py [--repeat 3] [--sites 100 --workloads 1000]

End to end: the real command as a subprocess (`python -m fleetyard`), `--repeat` times
each, median and min wall-clock: `validate` (loading alone) and `plan --no-resilience`
as the baselines of the same run, then `tco` with the optimizer (the default), with
`--strategy greedy`, and with an SVG and a PNG chart. In process: loading, planning,
pricing (`energy.tco`) and drawing, one stage at a time. `--sites N` also times a
generated fleet (benchmarks/fleetgen.py, seed 0) in process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machineinfo import machine

from fleetyard.cli.tco_chart import render_chart
from fleetyard.energy.tco import compare
from fleetyard.energy.tco_load import planned_load
from fleetyard.placement import Planner, PlanOptions
from fleetyard.spec import Fleet, load_fleet

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fleet"


def _wall(argv: list[str], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fleetyard", *argv], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3)}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - start, 3)


def _stages(fleet: Fleet, strategy: str) -> dict[str, float]:
    plan, t_plan = _timed(lambda: Planner(fleet).plan(PlanOptions(strategy=strategy, resilience=False,  # type: ignore[arg-type]
                                                                   explain=False)))
    comparison, t_price = _timed(lambda: compare(planned_load(fleet, plan), fleet.cost_model.spec))
    _, t_svg = _timed(lambda: render_chart(comparison, "svg", "bench"))
    _, t_png = _timed(lambda: render_chart(comparison, "png", "bench"))
    return {"plan_s": t_plan, "price_s": t_price, "svg_s": t_svg, "png_s": t_png,
            "gpus": comparison.load.total_gpus, "sites_used": comparison.load.sites}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sites", type=int, default=0)
    ap.add_argument("--workloads", type=int, default=1000)
    args = ap.parse_args()
    out: dict[str, Any] = {"machine": machine("highspy", "matplotlib", "pydantic")}
    with tempfile.TemporaryDirectory() as tmp:
        ex = str(EXAMPLE)
        out["end_to_end"] = {
            "fleetyard validate examples/fleet": _wall(["validate", ex], args.repeat),
            "fleetyard plan examples/fleet --no-resilience": _wall(["plan", ex, "--no-resilience"], args.repeat),
            "fleetyard tco examples/fleet": _wall(["tco", ex], args.repeat),
            "fleetyard tco examples/fleet --strategy greedy": _wall(["tco", ex, "-s", "greedy"], args.repeat),
            "fleetyard tco examples/fleet --chart tco.svg": _wall(["tco", ex, "--chart", f"{tmp}/t.svg"],
                                                                  args.repeat),
            "fleetyard tco examples/fleet --chart tco.png": _wall(["tco", ex, "--chart", f"{tmp}/t.png"],
                                                                  args.repeat),
        }
    fleet, t_load = _timed(lambda: load_fleet([EXAMPLE]).fleet)
    out["in_process_example"] = {"load_s": t_load, "optimizer": _stages(fleet, "optimizer"),
                                 "greedy": _stages(fleet, "greedy")}
    if args.sites:
        sys.path.insert(0, str(Path(__file__).parent))
        from fleetgen import generate
        big, t_gen = _timed(lambda: generate(sites=args.sites, workloads=args.workloads, seed=0))
        out[f"in_process_generated_{args.sites}_sites_{args.workloads}_workloads"] = {
            "generate_s": t_gen, "greedy": _stages(big, "greedy")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
