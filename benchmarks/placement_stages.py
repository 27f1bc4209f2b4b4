"""Stage timers for the placement benchmark: wrap the planner's functions, no change to its code."""

from __future__ import annotations

import functools
import json
import resource
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class Stages:
    """Accumulates wall time per stage by wrapping module attributes with timers."""

    def __init__(self, progress: str | None = None) -> None:
        self.progress = Path(progress) if progress else None
        self.t0 = time.perf_counter()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.highs: list[tuple[float, str]] = []

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.highs.clear()

    def wrap(self, module: Any, attr: str, stage: str) -> None:
        original = getattr(module, attr)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(stage)
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.perf_counter() - t0
                self.seconds[stage] += took
                self.calls[stage] += 1

        setattr(module, attr, timed)

    def wrap_highs(self, module: Any) -> None:
        original = module.solve_highs

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter("highs")
            t0 = time.perf_counter()
            sol = original(*args, **kwargs)
            took = time.perf_counter() - t0
            self.seconds["highs"] += took
            self.calls["highs"] += 1
            self.highs.append((round(took, 3), sol.status))
            return sol

        module.solve_highs = timed

    def enter(self, stage: str) -> None:
        """Note the stage being entered, so that a killed child still says where it was."""
        if self.progress is not None:
            elapsed = round(time.perf_counter() - self.t0, 1)
            self.progress.write_text(json.dumps({"stage": stage, "elapsed": elapsed, "rss_mb": round(peak_rss_mb())}))

    def snapshot(self) -> dict[str, Any]:
        return {
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "calls": dict(self.calls),
            "highs": list(self.highs),
        }


def instrument(progress: str | None = None) -> Stages:
    """Time the planner's stages; a stage the planner does not have (any more) is skipped."""
    from fleetyard.placement import milp, optimizer, planner, resilience

    st = Stages(progress)
    try:  # the big-fleet path (Lagrangian prices, priced repair, restricted MIP), if the planner has it
        from fleetyard.placement import largescale
    except ImportError:
        largescale = None
    if largescale is not None:
        for attr, stage in (
            ("build_flat", "lagrange"),
            ("subgradient", "lagrange"),
            ("greedy", "repair"),
            ("build_model", "build"),
        ):
            if hasattr(largescale, attr):
                st.wrap(largescale, attr, stage)
    for module, attr, stage in (
        (planner, "compile_fleet", "compile"),
        (planner, "build_candidates", "candidates"),
        (planner, "greedy", "greedy"),
        (optimizer, "build_model", "build"),
        (resilience, "build_model", "build"),
        (optimizer, "encode", "encode"),
        (milp.LinearModel, "csc", "csc"),
        (optimizer, "extract", "extract"),
        (planner, "assemble", "assemble"),
    ):
        if hasattr(module, attr):
            st.wrap(module, attr, stage)
    if hasattr(optimizer, "solve_highs"):
        st.wrap_highs(optimizer)
    return st
