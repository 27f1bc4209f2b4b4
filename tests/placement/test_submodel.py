"""`milp.submodel`: a sub-MIP over some columns, the rest fixed, solves like the whole
model with those columns' bounds fixed (the neighbourhood search relies on it)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetyard.placement.milp import LinearModel, solve_highs, submodel


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_a_submodel_solves_like_the_model_with_fixed_columns(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 12)), int(rng.integers(1, 6))
    lp = LinearModel()
    for _ in range(n):
        lp.add_var(0.0, float(rng.integers(1, 5)), float(rng.normal()), bool(rng.integers(0, 2)))
    x = np.array([float(rng.integers(0, int(u) + 1)) for u in lp.ub])  # the incumbent: rows hold at it
    for _ in range(m):
        cols = sorted(set(int(c) for c in rng.integers(0, n, size=int(rng.integers(1, n + 1)))))
        vals = [float(v) for v in rng.integers(-3, 4, size=len(cols))]
        at = sum(v * x[c] for c, v in zip(cols, vals, strict=True))
        lp.add_row(cols, vals, at - float(rng.integers(0, 8)), at + float(rng.integers(0, 8)))
    free = rng.integers(0, 2, size=n).astype(bool)
    lo = np.where(free, np.frombuffer(lp.lb), x)
    hi = np.where(free, np.frombuffer(lp.ub), x)
    whole = solve_highs(lp, bounds=(lo, hi), mip_rel_gap=0.0, limits=None)
    sub = submodel(lp, free, x)
    assert sub.n_vars == int(free.sum())
    part = solve_highs(sub, mip_rel_gap=0.0, limits=None) if sub.n_vars else None
    assert whole.x is not None
    if part is None:
        assert abs(whole.objective - float(np.frombuffer(lp.cost) @ x)) < 1e-9
        return
    assert part.x is not None
    full = x.copy()
    full[free] = part.x
    cost = np.frombuffer(lp.cost)
    assert abs(float(cost @ full) - whole.objective) <= 1e-6 * max(1.0, abs(whole.objective))
    start, index, value = lp.csc()
    activity = np.zeros(lp.n_rows)
    np.add.at(activity, index, value * np.repeat(full, np.diff(start)))
    assert (activity <= np.frombuffer(lp.row_hi) + 1e-6).all()
    assert (activity >= np.frombuffer(lp.row_lo) - 1e-6).all()


def test_the_relaxation_induced_neighbourhood_keeps_every_row_and_never_costs_more():
    """RINS (lns.rins) on a real cost stage: the result satisfies every row of the stage
    model (service kept), costs no more than its start, and frees at most the cap."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import fleetgen

    from fleetyard.placement import Planner, PlanOptions
    from fleetyard.placement.lns import LnsOptions, rins
    from fleetyard.placement.model import build_model, penalty_unit
    from fleetyard.placement.stages import SERVICE_EPS, complete, service_demand, with_objective
    from fleetyard.placement.warmstart import encode

    planner = Planner(fleetgen.generate(20, 200, seed=3, tightness=1.0))
    cands = planner.candidates
    built = build_model(planner.compiled, planner.compiled.full_ledger(), cands, unit=penalty_unit(cands))
    weights = built.service_weights()
    start = planner.place(PlanOptions(strategy="greedy"))
    x0 = complete(with_objective(built.lp, weights), encode(built, start), 1e18, 0)
    assert x0 is not None
    short, demand = float(weights @ x0), service_demand(built, weights)
    money = np.frombuffer(built.lp.cost, dtype=np.float64).copy()
    money[weights > 0] = 0.0
    stage2 = with_objective(built.lp, money, (weights, short + SERVICE_EPS * max(1.0, demand)))
    x1 = np.append(x0, 0.0)[: stage2.n_vars] if stage2.n_vars > len(x0) else x0
    relaxed = solve_highs(stage2, integral=False)
    assert relaxed.x is not None
    for cap in (50, 12_000):
        x, improved = rins(built, stage2, x1, relaxed.x, LnsOptions(rins_max_columns=cap), 1e18)
        cost = float(money @ x)
        assert cost <= float(money @ x1) + 1e-9
        assert improved == (cost < float(money @ x1) - 1e-7 * max(1.0, float(money @ x1)))
        start_, index, value = stage2.csc()
        activity = np.zeros(stage2.n_rows)
        np.add.at(activity, index, value * np.repeat(x, np.diff(start_)))
        assert (activity <= np.frombuffer(stage2.row_hi) + 1e-6).all()
        assert (activity >= np.frombuffer(stage2.row_lo) - 1e-6).all()
        integer = np.frombuffer(stage2.integer, dtype=np.int8) > 0
        assert np.allclose(x[integer], np.rint(x[integer]))
    assert improved  # the LP points at savings on this fleet: the test would notice RINS doing nothing
