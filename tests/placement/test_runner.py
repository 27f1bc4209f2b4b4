"""The runner: all reasons kept and stamped, kube-scheduler-style summaries, scores."""

from __future__ import annotations

from fleetyard.placement.context import compile_fleet
from fleetyard.placement.costmodel import CostModel
from fleetyard.placement.framework import Context
from fleetyard.placement.runner import Runner
from tests.placement.builders import fleet, policy, region, site, workload


def _setup():
    f = fleet(
        region("eu"),
        site("fra-1", gpus={"H100-SXM": (8, 1.0)}),
        site("nyc-1", country="US", lat=40.7, lon=-74.0, gpus={"H100-SXM": 8}),
        site("sfo-1", country="US", lat=37.8, lon=-122.4, gpus={"L4": 8}),
        site("par-1", country="FR", lat=48.86, lon=2.35, gpus={"L4": 8, "H100-SXM": (8, 0.5)}),
        workload("chat", memory=40, labels={"residency": "eu"}),
        policy("eu-residency", {"residency": "eu"}, allowed={"countries": ["DE", "FR"]}),
    )
    c = compile_fleet(f)
    return f, Context(c, CostModel(c), c.full_ledger())


def test_evaluate_keeps_every_reason_with_plugin_names():
    f, ctx = _setup()
    ev = Runner().evaluate(ctx, f.workloads["chat"])
    by_site = {v.site: v for v in ev.sites}
    assert by_site["fra-1"].status.ok and by_site["par-1"].status.ok
    sfo = by_site["sfo-1"].status
    assert not sfo.ok
    assert {(r.plugin, r.message) for r in sfo.reasons} == {
        ("residency", "country US not allowed by policy eu-residency"),
        ("gpu-memory", "L4 has 24 GB < 40 GB needed"),
    }
    # par-1's L4 pool is rejected but the site is feasible through its H100s
    assert by_site["par-1"].feasible_pools and by_site["par-1"].pool_reasons


def test_summary_counts_sites_per_reason():
    f, ctx = _setup()
    ev = Runner().evaluate(ctx, f.workloads["chat"])
    assert ev.summary() == (
        "2/4 sites are available: 2 country not allowed by policy eu-residency, 1 GPU memory < 40 GB"
    )


def test_scores_are_normalized_and_weighted_by_the_runner():
    f, ctx = _setup()
    runner = Runner(weights={"cost": 1.0})
    w = f.workloads["chat"]
    feasible = [int(p) for p, ok in enumerate(runner.feasible(ctx, w)) if ok]
    scores = runner.score(ctx, w, feasible)
    assert max(scores) == 100.0 and min(scores) == 0.0
    best = feasible[int(scores.argmax())]
    assert ctx.compiled.pool_label(best) == "par-1 H100-SXM"  # rent 0.5 < 1.0
