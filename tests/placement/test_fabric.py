"""Interconnect for gangs: the `fabric` filter alone, then both planners and the checker."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetyard.placement import Planner, PlanOptions
from fleetyard.placement.check import check_plan
from fleetyard.placement.context import compile_fleet
from fleetyard.placement.costmodel import CostModel
from fleetyard.placement.filters import Fabric, default_filters
from fleetyard.placement.filters.fabric import (
    DOMAIN_TOO_SMALL,
    FABRIC_BANDWIDTH,
    FABRIC_TYPE,
    LINK_MISMATCH,
    MUST_FIT_ONE_SERVER,
    SERVER_TOO_SMALL,
    TOO_FEW_SERVERS,
)
from fleetyard.placement.framework import Context
from fleetyard.placement.usage import subtract
from fleetyard.spec.plan import Plan
from tests.placement.builders import fleet, region, site, workload

RDMA = {"within_server": "nvlink", "between_servers": "rdma", "min_gbps": 400}
IB_3200 = {"fabric": {"type": "infiniband", "gbps": 3200}}
ROCE_2 = {"fabric": {"type": "roce", "gbps": 400, "domain_servers": 2}}


def _ctx(f):
    c = compile_fleet(f)
    return Context(c, CostModel(c), c.full_ledger())


def _pool(ctx, site_name, sku="H100-SXM"):
    c = ctx.compiled
    return next(int(p) for p in c.pools_of(site_name) if c.pool_sku[p] == sku)


def _verdicts(ctx, w):
    """Reasons per pool; the vector mask must agree with them."""
    flt = Fabric()
    reasons = [flt.check(ctx, w, p) for p in range(ctx.compiled.n_pools)]
    assert flt.mask(ctx, w).tolist() == [not r for r in reasons]
    return reasons


def _gang(name="train", n=4, gpus=8, need=None, **kw):
    return workload(name, type="training", gpus=gpus, replicas=(n, n), interconnect=need, **kw)


def test_a_gang_that_needs_rdma_is_rejected_where_the_pool_has_no_fabric():
    f = fleet(region("eu"), site("edge", gpus={"H100-SXM": 32}), _gang(need=RDMA))
    ctx = _ctx(f)
    (reasons,) = _verdicts(ctx, f.workloads["train"])
    assert [(r.code, r.message) for r in reasons] == [
        (FABRIC_TYPE, "fabric: the gang of 4 x 8 GPUs needs 4 servers on one rdma domain of >= 400 Gb/s; "
                      "H100-SXM has no fabric")]
    assert reasons[0].summary == "no rdma fabric for the gang of 4 x 8 GPUs"


def test_a_domain_too_small_and_a_slow_fabric_give_every_reason():
    need = {**RDMA, "between_servers": "roce", "min_gbps": 800}
    f = fleet(region("eu"), site("fra-1", gpus={"H100-SXM": 32}, servers={"H100-SXM": ROCE_2}), _gang(need=need))
    ctx = _ctx(f)
    (reasons,) = _verdicts(ctx, f.workloads["train"])
    assert [r.code for r in reasons] == [FABRIC_BANDWIDTH, DOMAIN_TOO_SMALL]
    assert reasons[0].message == "fabric: H100-SXM roce has 400 Gb/s per server < 800 Gb/s needed"
    assert reasons[1].message == ("fabric: the gang of 4 x 8 GPUs needs 4 servers on one roce domain of "
                                  ">= 800 Gb/s; H100-SXM has roce, 2 servers per domain")


def test_the_fabric_type_must_match_and_rdma_takes_either():
    f = fleet(region("eu"),
              site("ib", gpus={"H100-SXM": 32}, servers={"H100-SXM": IB_3200}),
              site("roce", gpus={"H100-SXM": 32}, servers={"H100-SXM": {"fabric": {"type": "roce", "gbps": 400}}}),
              site("eth", gpus={"H100-SXM": 32}, servers={"H100-SXM": {"fabric": {"type": "ethernet", "gbps": 400}}}),
              _gang("rdma", need={"between_servers": "rdma"}), _gang("ib", need={"between_servers": "infiniband"}),
              _gang("eth", need={"between_servers": "ethernet"}), _gang("anyfast", need={"min_gbps": 1000}))
    ctx = _ctx(f)
    ok = {name: [not r for r in _verdicts(ctx, f.workloads[name])] for name in f.workloads}
    assert ok == {"rdma": [True, True, False], "ib": [True, False, False], "eth": [True, True, True],
                  "anyfast": [True, False, False]}
    (ib_on_roce,) = Fabric().check(ctx, f.workloads["ib"], _pool(ctx, "roce"))
    assert ib_on_roce.code == FABRIC_TYPE and ib_on_roce.message.endswith("; H100-SXM has roce")


def test_a_gang_that_fits_one_server_needs_no_fabric():
    f = fleet(region("eu"), site("edge", gpus={"H100-SXM": 8}),
              _gang("small", n=2, gpus=4, need=RDMA), _gang("two", n=2, gpus=4, need={"between_servers": "none"}))
    ctx = _ctx(f)
    assert _verdicts(ctx, f.workloads["small"]) == [[]]
    assert _verdicts(ctx, f.workloads["two"]) == [[]]


def test_without_an_interconnect_need_fabrics_do_not_matter():
    f = fleet(region("eu"), site("edge", gpus={"H100-SXM": 32, "L40S": 16}, servers={"L40S": {"gpus_per_server": 2}}),
              _gang("plain"), workload("wide", type="batch", gpus=8))
    ctx = _ctx(f)
    for name in ("plain", "wide"):
        assert _verdicts(ctx, f.workloads[name]) == [[], []]


def test_within_server_asks_for_the_link_and_a_replica_that_fits_one_server():
    f = fleet(region("eu"),
              site("fra-1", gpus={"H100-SXM": 16, "L40S": 16, "MI300X": 16},
                   servers={"L40S": {"gpus_per_server": 4}}),
              workload("tp16", gpus=16, interconnect={"within_server": "nvlink"}),
              workload("tp8", gpus=8, interconnect={"within_server": "gpu-link"}))
    ctx = _ctx(f)
    h100, l40s, mi300x = _verdicts(ctx, f.workloads["tp16"])
    assert [r.code for r in h100] == [SERVER_TOO_SMALL]
    assert h100[0].message == "fabric: a replica of 16 GPUs does not fit one H100-SXM server of 8"
    assert [r.code for r in l40s] == [SERVER_TOO_SMALL, LINK_MISMATCH]
    assert l40s[1].message == "fabric: L40S links the GPUs of a server by PCIe Gen4, not nvlink"
    assert [r.code for r in mi300x] == [SERVER_TOO_SMALL, LINK_MISMATCH]
    h100, l40s, mi300x = _verdicts(ctx, f.workloads["tp8"])
    assert h100 == [] and mi300x == []  # NVLink and Infinity Fabric are both GPU links
    assert [r.code for r in l40s] == [SERVER_TOO_SMALL, LINK_MISMATCH]


def test_replicas_within_a_server_are_packed_whole():
    # 16 GPUs in servers of 8 hold 2 replicas of 5 GPUs that stay within a server, not 3
    f = fleet(region("eu"), site("fra-1", gpus={"H100-SXM": 16}, servers={"H100-SXM": IB_3200}),
              _gang("three", n=3, gpus=5, need={"within_server": "nvlink", "between_servers": "rdma"}),
              _gang("spans", n=3, gpus=5, need={"between_servers": "rdma"}))
    ctx = _ctx(f)
    (three,) = _verdicts(ctx, f.workloads["three"])
    assert [(r.code, r.message) for r in three] == [
        (TOO_FEW_SERVERS, "fabric: 16 H100-SXM in servers of 8 hold 2 replicas of 5 GPUs within one server < 3 needed")]
    assert _verdicts(ctx, f.workloads["spans"]) == [[]]  # 15 GPUs over 2 servers on one IB domain


def test_between_servers_none_keeps_the_gang_in_one_server():
    f = fleet(region("eu"), site("fra-1", gpus={"H100-SXM": 32}, servers={"H100-SXM": IB_3200}),
              _gang(n=2, need={"between_servers": "none"}))
    (reasons,) = _verdicts(_ctx(f), f.workloads["train"])
    assert [r.code for r in reasons] == [MUST_FIT_ONE_SERVER]


def test_a_partial_server_counts_and_gpus_per_server_sets_the_size():
    # 20 GPUs in servers of 4: 5 servers; a gang of 2 x 8 spans 4 of them
    f = fleet(region("eu"), site("fra-1", gpus={"H100-SXM": 20},
                                 servers={"H100-SXM": {"gpus_per_server": 4,
                                                       "fabric": {"type": "roce", "gbps": 200, "domain_servers": 3}}}),
              _gang(n=2, need={"between_servers": "rdma"}))
    ctx = _ctx(f)
    assert ctx.compiled.pool_shapes[0].servers == 5
    (reasons,) = _verdicts(ctx, f.workloads["train"])
    assert [r.code for r in reasons] == [DOMAIN_TOO_SMALL] and "needs 4 servers" in reasons[0].message


def test_the_verdict_is_the_same_against_free_capacity():
    f = fleet(region("eu"), site("a", gpus={"H100-SXM": 32}),
              site("b", gpus={"H100-SXM": 32}, servers={"H100-SXM": IB_3200}), _gang(need=RDMA))
    ctx = _ctx(f)
    w = f.workloads["train"]
    busy = ctx.compiled.full_ledger()
    busy.gpus[:] = [8, 8]
    free = ctx.with_ledger(subtract(ctx.compiled.full_ledger(), busy))
    assert Fabric().mask(free, w).tolist() == Fabric().mask(ctx, w).tolist() == [False, True]
    assert [r.message for r in Fabric().check(free, w, 0)] == [r.message for r in Fabric().check(ctx, w, 0)]


def test_the_runner_names_the_fabric_reason_per_site():
    f = fleet(region("eu"), site("edge", gpus={"H100-SXM": 32}),
              site("fra-1", gpus={"H100-SXM": 32}, servers={"H100-SXM": ROCE_2}), _gang(need=RDMA))
    planner = Planner(f)
    ev = planner.runner.evaluate(planner.ctx, f.workloads["train"])
    assert ev.summary() == ("0/2 sites are available: 1 fabric domain smaller than 4 servers, "
                            "1 no rdma fabric for the gang of 4 x 8 GPUs")
    plugins = {v.site: {r.plugin for r in v.status.reasons} for v in ev.sites}
    assert plugins == {"edge": {"fabric"}, "fra-1": {"fabric"}}


# --- both planners and the checker ---------------------------------------------------------------


def _fabric_fleet():
    """The cheapest sites have no fabric, or a too-small domain; only `ib` can hold the gang."""
    return fleet(region("eu"),
                 site("cheap", gpus={"H100-SXM": (32, 0.5)}),
                 site("small-domain", gpus={"H100-SXM": (32, 0.8)}, servers={"H100-SXM": ROCE_2}),
                 site("ib", gpus={"H100-SXM": (32, 3.0)}, servers={"H100-SXM": IB_3200}),
                 _gang(need=RDMA, power_kw=10.2),
                 _gang("plain", n=2, power_kw=10.2),
                 workload("wide", type="batch", gpus=16, replicas=(1, 1), power_kw=20.0,
                          interconnect={"between_servers": "rdma"}))


@pytest.mark.parametrize("strategy", ["optimizer", "greedy"])
def test_both_planners_place_a_fabric_gang_only_where_a_domain_holds_it(strategy):
    f = _fabric_fleet()
    plan = Planner(f).plan(PlanOptions(strategy=strategy, resilience=False))
    assert check_plan(f, plan) == []
    where = {(a.workload, a.site): a.replicas for a in plan.assignments}
    assert where[("train", "ib")] == 4
    assert {s for (w, s) in where if w in ("train", "wide")} <= {"ib", "small-domain"}
    assert ("wide", "cheap") not in where  # a 16-GPU replica spans 2 servers: it needs rdma too
    assert where.get(("plain", "cheap")) == 2  # no need declared: the cheapest site, as before
    assert plan.unplaced == []


@pytest.mark.parametrize("strategy", ["optimizer", "greedy"])
def test_a_gang_no_fabric_can_hold_is_unplaced_with_the_fabric_reason(strategy):
    f = fleet(region("eu"), site("cheap", gpus={"H100-SXM": 32}), _gang(need=RDMA))
    plan = Planner(f).plan(PlanOptions(strategy=strategy, resilience=False))
    assert plan.assignments == []
    (u,) = plan.unplaced
    assert u.workload == "train" and u.replicas == 4
    assert u.reasons == ["0/1 sites are available: 1 no rdma fabric for the gang of 4 x 8 GPUs"]
    assert check_plan(f, plan) == []


def test_the_checker_flags_a_gang_on_a_pool_without_fabric():
    f = _fabric_fleet()
    plan = Planner(f).plan(PlanOptions(resilience=False))
    data = plan.model_dump()
    for a in data["assignments"]:
        if a["workload"] == "train":
            a["site"] = "cheap"
    for s in data["sites"]:
        s["gpus_used"] = {}
    bad = check_plan(f, Plan.model_validate(data))
    assert "train on cheap: fabric: the gang of 4 x 8 GPUs needs 4 servers on one rdma domain of >= 400 Gb/s; " \
           "H100-SXM has no fabric" in bad


# --- properties ---------------------------------------------------------------------------------

NEEDS = st.fixed_dictionaries({}, optional={
    "within_server": st.sampled_from(["any", "gpu-link", "nvlink", "infinity-fabric"]),
    "between_servers": st.sampled_from(["any", "none", "ethernet", "rdma", "roce", "infiniband"]),
    "min_gbps": st.sampled_from([100, 400, 3200]),
}).filter(lambda d: not (d.get("between_servers") == "none" and "min_gbps" in d))
FABRICS = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"type": st.sampled_from(["ethernet", "roce", "infiniband"]),
                           "gbps": st.sampled_from([100, 400, 3200])},
                          optional={"domain_servers": st.integers(1, 6)}).map(lambda d: {"fabric": d}))


@settings(max_examples=150, deadline=None)
@given(count=st.integers(1, 40), per_server=st.sampled_from([None, 1, 2, 4, 8]), fabric=FABRICS,
       sku=st.sampled_from(["H100-SXM", "MI300X", "L40S"]), n=st.integers(1, 5),
       gpus=st.sampled_from([1, 2, 3, 4, 8, 16]), need=NEEDS, kind=st.sampled_from(["training", "batch"]))
def test_mask_and_check_agree_and_every_rejection_has_named_reasons(count, per_server, fabric, sku, n, gpus, need,
                                                                     kind):
    servers = {**fabric, **({"gpus_per_server": per_server} if per_server else {})}
    f = fleet(region("eu"), site("s", gpus={sku: count}, servers={sku: servers}),
              workload("w", type=kind, gpus=gpus, replicas=(n, n), interconnect=need))
    ctx = _ctx(f)
    (reasons,) = _verdicts(ctx, f.workloads["w"])
    assert all(r.code.startswith("fabric.") and r.message.startswith("fabric: ") and r.summary for r in reasons)
    asks = need.get("within_server", "any") != "any" or need.get("between_servers", "any") != "any"
    if not asks and "min_gbps" not in need:
        assert reasons == []  # nothing asked, nothing rejected


def test_the_fabric_filter_is_registered_with_a_vector_mask():
    names = [flt.name for flt in default_filters()]
    assert "fabric" in names and names.index("fabric") < names.index("fit")
    assert isinstance(np.asarray(Fabric().mask(_ctx(_fabric_fleet()), _fabric_fleet().workloads["plain"])),
                      np.ndarray)
