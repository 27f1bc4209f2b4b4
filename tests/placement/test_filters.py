"""Each filter alone: verdicts, reasons, and the vector mask agreeing with `check`."""

from __future__ import annotations

import numpy as np
import pytest

from fleetyard.placement.context import compile_fleet
from fleetyard.placement.costmodel import CostModel
from fleetyard.placement.filters import Fit, GpuMemory, GpuSku, LatencySlo, Residency
from fleetyard.placement.framework import Context
from fleetyard.placement.usage import subtract
from tests.placement.builders import fleet, policy, region, site, workload


def _ctx(f):
    c = compile_fleet(f)
    return Context(c, CostModel(c), c.full_ledger())


def _pool(ctx, site_name, sku):
    c = ctx.compiled
    return next(int(p) for p in c.pools_of(site_name) if c.pool_sku[p] == sku)


def _agree(flt, ctx, w):
    mask = flt.mask(ctx, w)
    scalar = np.array([not flt.check(ctx, w, p) for p in range(ctx.compiled.n_pools)])
    assert (mask == scalar).all()
    return mask


def test_residency_country_site_type_and_denied_sites():
    f = fleet(
        region("eu"),
        site("fra-1", country="DE"), site("nyc-1", country="US", lat=40.7, lon=-74.0),
        site("aws-fra", country="DE", type="hyperscaler"), site("ams-1", country="NL"),
        workload("chat", labels={"residency": "eu"}),
        policy("eu-residency", {"residency": "eu"}, allowed={"countries": ["DE", "NL"],
                                                           "site_types": ["small-dc", "colo"]},
               denied={"sites": ["ams-1"]}),
    )
    ctx = _ctx(f)
    w = f.workloads["chat"]
    flt = Residency()
    assert flt.check(ctx, w, _pool(ctx, "fra-1", "H100-SXM")) == []
    us = flt.check(ctx, w, _pool(ctx, "nyc-1", "H100-SXM"))
    assert [r.message for r in us] == ["country US not allowed by policy eu-residency"]
    hyper = flt.check(ctx, w, _pool(ctx, "aws-fra", "H100-SXM"))
    assert [r.message for r in hyper] == ["site type hyperscaler not allowed by policy eu-residency"]
    denied = flt.check(ctx, w, _pool(ctx, "ams-1", "H100-SXM"))
    assert [r.message for r in denied] == ["site ams-1 denied by policy eu-residency"]
    assert _agree(flt, ctx, w).tolist() == [True, False, False, False]


def test_residency_needs_every_matching_policy_and_ignores_others():
    f = fleet(
        region("eu"),
        site("fra-1", country="DE"), site("par-1", country="FR", lat=48.9, lon=2.35),
        workload("a", labels={"residency": "eu", "team": "x"}), workload("b", labels={"team": "y"}),
        policy("eu", {"residency": "eu"}, allowed={"countries": ["DE", "FR"]}),
        policy("team-x", {"team": "x"}, denied={"countries": ["FR"]}),
    )
    ctx = _ctx(f)
    assert _agree(Residency(), ctx, f.workloads["a"]).tolist() == [True, False]
    assert _agree(Residency(), ctx, f.workloads["b"]).tolist() == [True, True]
    reasons = Residency().check(ctx, f.workloads["a"], _pool(ctx, "par-1", "H100-SXM"))
    assert [r.message for r in reasons] == ["country FR denied by policy team-x"]


def test_gpu_sku_and_memory():
    f = fleet(region("eu"), site("fra-1", gpus={"L4": 8, "H100-SXM": 8, "H200": 8}),
              workload("big", memory=40, skus=["H100-SXM", "L4"]))
    ctx = _ctx(f)
    w = f.workloads["big"]
    l4 = _pool(ctx, "fra-1", "L4")
    h200 = _pool(ctx, "fra-1", "H200")
    assert [r.message for r in GpuMemory().check(ctx, w, l4)] == ["L4 has 24 GB < 40 GB needed"]
    assert [r.message for r in GpuSku().check(ctx, w, h200)] == ["H200 not in allowed SKUs (H100-SXM, L4)"]
    assert _agree(GpuMemory(), ctx, w).tolist() == [False, True, True]
    assert _agree(GpuSku(), ctx, w).tolist() == [True, True, False]


def test_latency_slo_uses_nearest_demand_region_and_measured_values():
    f = fleet(
        region("eu-central", 50.11, 8.68), region("us-east", 40.7, -74.0),
        site("fra-1"), site("nyc-1", country="US", lat=40.7, lon=-74.0),
        site("far", country="US", lat=40.7, lon=-74.0, latency={"us-east": 95.0}),
        workload("chat", demand={"eu-central": 50}, rps=10, slo=30),
        workload("nodemand"),
    )
    ctx = _ctx(f)
    w = f.workloads["chat"]
    reasons = LatencySlo().check(ctx, w, _pool(ctx, "nyc-1", "H100-SXM"))
    assert len(reasons) == 1 and "to nearest demand region eu-central > 30 ms SLO" in reasons[0].message
    assert _agree(LatencySlo(), ctx, w).tolist() == [True, False, False]
    assert _agree(LatencySlo(), ctx, f.workloads["nodemand"]).all()


def test_fit_static_gang_and_free_ledger():
    f = fleet(region("eu"), site("fra-1", gpus={"H100-SXM": 16}, it_kw=20.0, cooling=15.0),
              workload("gang", type="training", gpus=8, replicas=(4, 4)),
              workload("one", gpus=1, power_kw=1.0))
    ctx = _ctx(f)
    p = _pool(ctx, "fra-1", "H100-SXM")
    gang = Fit().check(ctx, f.workloads["gang"], p)
    messages = [r.message for r in gang]
    assert messages[0] == "H100-SXM: site has 16 < 32 needed by the gang of 4 x 8 GPUs"
    assert any(m.startswith("power: 20.00 kW capacity < 40.32 kW") for m in messages)
    assert any(m.startswith("cooling: 15.00 kW capacity < 40.32 kW") for m in messages)
    assert Fit().check(ctx, f.workloads["one"], p) == []
    busy = ctx.compiled.full_ledger()
    busy.gpus[p] = 16
    busy.it_kw[0] = 14.6
    busy.cooling_kw[0] = 14.6
    free = subtract(ctx.compiled.full_ledger(), busy)
    tight = Fit().check(ctx.with_ledger(free), f.workloads["one"], p)
    assert [r.message for r in tight] == [
        "H100-SXM: 0 free < 1 needed by the replica",
        "cooling: 0.40 kW free < 1.00 kW",
    ]
    assert _agree(Fit(), ctx.with_ledger(free), f.workloads["one"]).tolist() == [False]


@pytest.mark.parametrize("flt", [Residency(), GpuSku(), GpuMemory(), LatencySlo(), Fit()])
def test_every_filter_has_name_and_reasons_have_summaries(flt):
    f = fleet(region("eu"), region("us", 40.7, -74.0), site("fra-1", gpus={"L4": 1}, it_kw=0.1),
              site("nyc-1", country="US", lat=40.7, lon=-74.0, gpus={"L4": 1}, it_kw=0.1),
              workload("x", gpus=2, memory=80, skus=["H100-SXM"], demand={"eu": 10}, rps=5, slo=5,
                       labels={"r": "eu"}),
              policy("eu", {"r": "eu"}, allowed={"countries": ["DE"]}))
    ctx = _ctx(f)
    assert flt.name
    reasons = flt.check(ctx, f.workloads["x"], 1)
    assert reasons, f"{flt.name} should reject nyc-1's L4 for this workload"
    assert all(r.code and r.message and r.summary for r in reasons)
