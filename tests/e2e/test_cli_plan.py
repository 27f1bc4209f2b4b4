"""End to end: the real `fleetyard` command on the example fleet, as a user runs it.

Every command runs as a subprocess of the venv's Python (`python -m fleetyard`) with
COLUMNS=200. Planning the example takes a few seconds, so each command line runs once
per module (`runs`; the slow ones start together, when the first is needed), and
several tests read each output; `--no-resilience` wherever resilience is not what a test checks
(the N-1 report of the whole example costs several plans; a small fleet checks it).
JSON output is checked against the contract of DESIGN.md and against the fleet itself
(capacity, power, cooling, policies, SKUs, SLOs, replicas per route).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetyard.spec import Fleet, load_fleet

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet"
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
ENV.pop("FORCE_COLOR", None)

CONTRACT = {
    "assignments": {"workload", "site", "gpu_sku", "replicas"},
    "routes": {"workload", "region", "site", "rps", "latency_ms"},
    "unplaced": {"workload", "replicas", "reasons"},
    "sites": {"site", "gpus_used", "it_kw"},
    "resilience": {"failed_site", "absorbable", "unplaced"},
}
TOTALS = {"cost_per_hour", "power_kw", "carbon_kg_per_hour"}
BOUND = {"cost_per_hour_lower_bound", "gap"}


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


PYTHON_M = (sys.executable, "-m", "fleetyard")


def start(*args: str | Path, exe: tuple[str, ...] = PYTHON_M) -> subprocess.Popen[str]:
    return subprocess.Popen([*exe, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def finish(args: tuple[str, ...], proc: subprocess.Popen[str]) -> Run:
    stdout, stderr = proc.communicate(timeout=300)
    run = Run(args, proc.returncode, stdout, stderr)
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    return run


def fleetyard(*args: str | Path, exe: tuple[str, ...] = PYTHON_M) -> Run:
    return finish(tuple(map(str, args)), start(*args, exe=exe))


PLAN = ("plan", EXAMPLE, "--no-resilience")
PLAN_JSON = (*PLAN, "--format", "json")
EXPLAIN = ("explain", EXAMPLE, "support-chat-eu")
EXPLAIN_JSON = (*EXPLAIN, "--format", "json")
WHATIF = ("whatif", EXAMPLE, "--fail", "fra-1")
WHATIF_JSON = (*WHATIF, "--format", "json")
SLOW = (PLAN_JSON, PLAN, EXPLAIN_JSON, EXPLAIN, WHATIF_JSON, WHATIF)


class Runs:
    """Each command line runs at most once per module. The first of the SLOW commands to be
    asked for starts them all, side by side."""

    def __init__(self) -> None:
        self._procs: dict[tuple[str, ...], subprocess.Popen[str]] = {}
        self._done: dict[tuple[str, ...], Run] = {}
        self._slow = {tuple(map(str, c)) for c in SLOW}

    def __call__(self, *args: str | Path) -> Run:
        key = tuple(map(str, args))
        if key in self._slow:
            for command in SLOW:
                self._procs[tuple(map(str, command))] = start(*command)
            self._slow.clear()
        if key not in self._done:
            proc = self._procs.pop(key, None) or start(*args)
            self._done[key] = finish(key, proc)
        return self._done[key]

    def close(self) -> None:
        for proc in self._procs.values():
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    runs = Runs()
    yield runs
    runs.close()


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_fleet([EXAMPLE]).fleet


@pytest.fixture(scope="module")
def plan_json(runs: Runs) -> dict[str, Any]:
    """The optimizer's plan of the example (without the N-1 report)."""
    run = runs(*PLAN_JSON)
    assert run.code == 0, run.stderr
    return run.json()


def table(text: str, title: str) -> list[list[str]]:
    """The body rows of the Rich table titled `title`; wrapped rows are joined."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == title)
    rows: list[list[str]] = []
    for ln in lines[start + 1:]:
        if ln.startswith("└"):
            break
        if not ln.startswith("│"):
            continue
        cells = [c.strip() for c in ln.strip().strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def check_plan(plan: dict[str, Any], fleet: Fleet, failed: frozenset[str] = frozenset()) -> None:
    """The plan has the contract's fields and honours the fleet: names, capacity, power,
    cooling, policies, SKUs, memory, SLOs and replicas per route."""
    for key, fields in CONTRACT.items():
        assert isinstance(plan[key], list), key
        for entry in plan[key]:
            assert fields <= set(entry), (key, entry)
    assert TOTALS <= set(plan["totals"]) and BOUND <= set(plan["bound"])

    used: dict[tuple[str, str], int] = {}
    it_kw: dict[str, float] = {}
    replicas: dict[str, int] = {}
    for a in plan["assignments"]:
        site, w = fleet.sites[a["site"]], fleet.workloads[a["workload"]]
        assert a["site"] not in failed, a
        assert a["replicas"] >= 1
        pool = next(p for p in site.spec.gpus if p.sku == a["gpu_sku"])
        gpu = fleet.gpu_model(pool)
        shape = w.spec.replica
        assert shape.gpu_skus is None or pool.sku in shape.gpu_skus, a
        assert shape.gpu_memory_gb is None or gpu.memory_gb >= shape.gpu_memory_gb, a
        for policy in fleet.policies_for(w):
            allowed, denied = policy.spec.allowed, policy.spec.denied
            assert allowed.countries is None or site.spec.country in allowed.countries, (policy.name, a)
            assert allowed.site_types is None or site.spec.type in allowed.site_types, (policy.name, a)
            assert allowed.sites is None or site.name in allowed.sites, (policy.name, a)
            assert site.spec.country not in (denied.countries or []), (policy.name, a)
            assert site.spec.type not in (denied.site_types or []), (policy.name, a)
            assert site.name not in (denied.sites or []), (policy.name, a)
        key = (a["site"], a["gpu_sku"])
        used[key] = used.get(key, 0) + a["replicas"] * shape.gpus
        it_kw[a["site"]] = it_kw.get(a["site"], 0.0) + a["replicas"] * fleet.replica_power_kw(w, pool)
        replicas[w.name] = replicas.get(w.name, 0) + a["replicas"]

    for name, total in replicas.items():
        spec = fleet.workloads[name].spec
        assert spec.replicas.max is None or total <= spec.replicas.max, name

    for s in plan["sites"]:
        site = fleet.sites[s["site"]]
        counts = {p.sku: p.count for p in site.spec.gpus}
        for sku, n in s["gpus_used"].items():
            assert n <= counts[sku], (s["site"], sku, n, counts[sku])
            if s["site"] not in failed:  # see test_whatif_a_failed_site_uses_no_gpus
                assert n == used.get((s["site"], sku), 0), (s["site"], sku)
        assert s["it_kw"] == pytest.approx(it_kw.get(s["site"], 0.0), abs=0.01)
        assert s["it_kw"] <= site.spec.power.it_capacity_kw + 1e-6, s
        assert s["it_kw"] <= site.spec.cooling_capacity_kw + 1e-6, s
    assert {k for k, n in used.items() if n} <= {(s["site"], sku) for s in plan["sites"]
                                                  for sku in s["gpus_used"]}
    assert sorted(s["site"] for s in plan["sites"]) == sorted(fleet.sites)

    served: dict[tuple[str, str], float] = {}
    at_site: dict[tuple[str, str], float] = {}
    for r in plan["routes"]:
        w = fleet.workloads[r["workload"]]
        assert r["region"] in fleet.regions and r["site"] in fleet.sites and r["rps"] > 0, r
        assert w.spec.latency_slo_ms is None or r["latency_ms"] <= w.spec.latency_slo_ms + 1e-6, r
        served[(w.name, r["region"])] = served.get((w.name, r["region"]), 0.0) + r["rps"]
        at_site[(w.name, r["site"])] = at_site.get((w.name, r["site"]), 0.0) + r["rps"]
    for (name, site), rps in at_site.items():
        w = fleet.workloads[name]
        assert w.spec.rps_per_replica is not None
        placed = sum(a["replicas"] for a in plan["assignments"]
                     if a["workload"] == name and a["site"] == site)
        assert placed >= math.ceil(rps / w.spec.rps_per_replica - 1e-9), (name, site, rps, placed)
    unserved = {(u["workload"], region): rps for u in plan["unplaced"]
                for region, rps in u.get("unserved", {}).items()}
    for w in fleet.workloads.values():
        for region, demand in w.spec.demand.items():
            got = served.get((w.name, region), 0.0) + unserved.get((w.name, region), 0.0)
            assert got == pytest.approx(demand, abs=1e-3), (w.name, region)

    for u in plan["unplaced"]:
        assert u["workload"] in fleet.workloads and u["reasons"], u
        assert all(isinstance(r, str) and r for r in u["reasons"])


# --- validate ----------------------------------------------------------------------------------


def test_validate_prints_the_counts(runs, fleet):
    run = runs("validate", EXAMPLE)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == (
        f"ok: {len(fleet.regions)} regions, {len(fleet.sites)} sites, "
        f"{len(fleet.workloads)} workloads, {len(fleet.policies)} policies, {len(fleet.flags)} flags")
    assert (len(fleet.regions), len(fleet.sites), len(fleet.workloads), len(fleet.deferred())) == (10, 16, 32, 3)
    assert "error" not in run.stderr


def test_the_console_script_of_the_venv():
    script = Path(sys.executable).with_name("fleetyard")
    assert script.exists(), script
    run = fleetyard("validate", EXAMPLE, exe=(str(script),))
    assert run.code == 0 and run.stdout.startswith("ok: 10 regions, 16 sites")


# --- plan ------------------------------------------------------------------------------------------


def test_plan_prints_tables_totals_and_the_bound(runs, fleet, plan_json):
    run = runs(*PLAN)
    assert run.code == 0, run.stderr
    out = run.stdout
    assert out.startswith(f"Plan {EXAMPLE}: 16 sites, 29 workloads, 3 deferred - optimizer (")
    assert [r[0] for r in table(out, "Workloads")] == [w["workload"] for w in plan_json["workloads"]]
    assert {r[0] for r in table(out, "Workloads")} == set(fleet.always_on().workloads)
    assert [r[0] for r in table(out, "Sites")] == [s["site"] for s in plan_json["sites"]]
    assert {r[0] for r in table(out, "Unplaced and unserved")} == {
        u["workload"] for u in plan_json["unplaced"]}
    totals = re.search(r"^Totals +\$([\d,]+\.\d\d)/h \(GPU rent \$[\d,.]+, energy \$[\d,.]+, "
                       r"carbon \$[\d,.]+, egress \$[\d,.]+\)", out, re.M)
    assert totals, out
    # the same plan as the JSON run
    assert float(totals.group(1).replace(",", "")) == pytest.approx(
        plan_json["totals"]["cost_per_hour"], abs=0.006)
    bound = re.search(r"^Bound +cost >= \$([\d,]+\.\d\d)/h, gap (\d+\.\d\d)%", out, re.M)
    assert bound, out
    assert float(bound.group(1).replace(",", "")) <= float(totals.group(1).replace(",", ""))
    assert "Resilience" not in out  # --no-resilience


def test_plan_json_has_the_contract_fields(plan_json, fleet):
    assert set(CONTRACT) | {"totals", "bound"} <= set(plan_json)
    assert plan_json["resilience"] == []  # --no-resilience
    totals, bound = plan_json["totals"], plan_json["bound"]
    assert totals["cost_per_hour"] > 0 and totals["power_kw"] > 0 and totals["carbon_kg_per_hour"] > 0
    assert 0 <= bound["cost_per_hour_lower_bound"] <= totals["cost_per_hour"] + 1e-6
    assert 0 <= bound["gap"] < 0.05
    assert plan_json["assignments"] and plan_json["routes"]


def test_plan_json_honours_the_fleet(plan_json, fleet):
    check_plan(plan_json, fleet)
    placed = {a["site"] for a in plan_json["assignments"]}
    assert placed <= set(fleet.sites) and len(placed) > 8
    assert {a["workload"] for a in plan_json["assignments"]} <= set(fleet.workloads)


def test_plan_json_lists_what_the_example_cannot_place(plan_json):
    unplaced = {u["workload"]: u for u in plan_json["unplaced"]}
    # see examples/fleet/README.md, "What the plan should show"
    vision = unplaced["train-vision-encoder"]
    assert vision["replicas"] == 4 and "0/16 sites are available" in vision["reasons"][0]
    apac = unplaced["assistant-apac"]
    assert set(apac["unserved"]) == {"au-east"} and apac["unserved"]["au-east"] > 0
    assert any("90 ms SLO" in r for r in apac["reasons"])


def test_plan_json_runs_rdma_gangs_only_on_rdma_pools(plan_json, fleet):
    needs = {n for n, w in fleet.workloads.items()
             if w.spec.interconnect is not None and w.spec.interconnect.between_servers == "rdma"}
    assert needs == {"ft-code-llm", "pretrain-fleet-lm"}
    placed = [a for a in plan_json["assignments"] if a["workload"] in needs]
    assert {a["workload"] for a in placed} == needs  # both still placed
    for a in placed:
        pool = next(p for p in fleet.sites[a["site"]].spec.gpus if p.sku == a["gpu_sku"])
        assert pool.fabric_or_none.type in ("roce", "infiniband"), a


SMALL_FLEET = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec: {location: {lat: 50.11, lon: 8.68}}
---
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-west}
spec: {location: {lat: 48.86, lon: 2.35}}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1}
spec:
  type: small-dc
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus: [{sku: L40S, count: 8}]
  power: {it_capacity_kw: 20}
  energy: {price_per_kwh: 0.19, carbon_g_per_kwh: 380}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: par-1}
spec:
  type: small-dc
  country: FR
  location: {lat: 48.86, lon: 2.35}
  gpus: [{sku: L40S, count: 4, price_per_gpu_hour: 0.5}]
  power: {it_capacity_kw: 20}
  energy: {price_per_kwh: 0.2, carbon_g_per_kwh: 50}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: dub-1}
spec:
  type: colo
  country: IE
  location: {lat: 53.35, lon: -6.26}
  gpus: [{sku: L4, count: 4}]
  power: {it_capacity_kw: 10}
  energy: {price_per_kwh: 0.25, carbon_g_per_kwh: 300}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: chat}
spec:
  type: inference
  model: chat:1
  replica: {gpus: 1, gpu_memory_gb: 40}
  replicas: {min: 2, max: 12}
  demand: {eu-central: 200, eu-west: 100}
  rps_per_replica: 40
  latency_slo_ms: 30
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: batch}
spec:
  type: batch
  model: embed:2
  replica: {gpus: 1}
  replicas: {min: 1, max: 4}
"""


def test_plan_json_reports_resilience_per_site(tmp_path):
    (tmp_path / "fleet.yaml").write_text(SMALL_FLEET)
    small = load_fleet([tmp_path]).fleet
    run = fleetyard("plan", tmp_path, "--format", "json")
    assert run.code == 0, run.stderr
    plan = run.json()
    check_plan(plan, small)
    entries = plan["resilience"]
    assert sorted(e["failed_site"] for e in entries) == ["dub-1", "fra-1", "par-1"]
    for e in entries:
        assert isinstance(e["absorbable"], bool)
        assert e["absorbable"] == (not e["unplaced"]), e["failed_site"]
        for u in e["unplaced"]:
            assert CONTRACT["unplaced"] <= set(u) and u["workload"] in small.workloads and u["reasons"]
    # chat needs 8 replicas on 48 GB GPUs; only fra-1 (8) and par-1 (4) have them
    assert not next(e for e in entries if e["failed_site"] == "fra-1")["absorbable"]


def test_plan_with_the_greedy_strategy(runs, fleet):
    run = runs("plan", EXAMPLE, "--strategy", "greedy", "--no-resilience")
    assert run.code == 0, run.stderr
    assert "greedy baseline" in run.stdout.splitlines()[0]
    assert re.search(r"^Bound +none \(the greedy baseline proves no bound\)", run.stdout, re.M)
    assert {r[0] for r in table(run.stdout, "Workloads")} == set(fleet.always_on().workloads)
    as_json = runs("plan", EXAMPLE, "--strategy", "greedy", "--no-resilience", "--format", "json")
    assert as_json.code == 0
    plan = as_json.json()
    assert plan["solver"]["strategy"] == "greedy" and plan["totals"]["cost_per_hour"] > 0
    check_plan(plan, fleet)


@pytest.mark.parametrize(("strategy", "hint"), [("nope", ""), ("gredy", " (did you mean 'greedy'?)")])
def test_plan_with_an_unknown_strategy(strategy, hint):
    run = fleetyard("plan", EXAMPLE, "--strategy", strategy)
    assert run.code == 2 and run.stdout == ""
    assert f"error: --strategy: expected one of optimizer, greedy, got '{strategy}'{hint}" in run.stderr


def test_plan_fail_on_unplaced_exits_3_after_printing_the_plan(runs):
    run = runs("plan", EXAMPLE, "--fail-on-unplaced", "--strategy", "greedy", "--no-resilience",
               "--format", "json")
    assert run.code == 3, run.stderr
    assert {u["workload"] for u in run.json()["unplaced"]} >= {"train-vision-encoder", "assistant-apac"}


# --- explain ------------------------------------------------------------------------------------------


def test_explain_gives_every_site_a_verdict(runs, fleet):
    run = runs(*EXPLAIN)
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("support-chat-eu  inference, priority 1000")
    assert "policies: eu-residency" in lines
    rows = {r[0]: r for r in table(run.stdout, "Every site")}
    assert set(rows) == set(fleet.sites)
    assert {r[1] for r in rows.values()} <= {"chosen", "not chosen", "rejected"}
    assert any(r[1] == "chosen" for r in rows.values())
    for site, row in rows.items():
        if row[1] == "rejected":
            assert row[-1].startswith("- "), site  # at least one reason
    assert "country JP not allowed by policy eu-residency" in rows["tyo-1"][-1]
    assert "not allowed by policy eu-residency" in rows["aws-eu-central-1"][-1]
    assert rows["aws-eu-central-1"][1] == "rejected"
    assert {r[0] for r in table(run.stdout, "Routes")} <= set(fleet.workloads["support-chat-eu"].spec.demand)


def test_explain_json_agrees_with_the_plan(runs, fleet, plan_json):
    run = runs(*EXPLAIN_JSON)
    assert run.code == 0, run.stderr
    ex = run.json()
    assert ex["workload"] == "support-chat-eu" and ex["policies"] == ["eu-residency"]
    verdicts = {s["site"]: s for s in ex["sites"]}
    assert set(verdicts) == set(fleet.sites)
    eu = fleet.policies["eu-residency"].spec.allowed.countries or []
    for site, s in verdicts.items():
        assert s["verdict"] in {"chosen", "not chosen", "rejected"}, site
        if s["verdict"] == "rejected":
            assert s["reasons"], site
        country = fleet.sites[site].spec.country
        if country not in eu:
            assert s["verdict"] == "rejected", site
            assert f"country {country} not allowed by policy eu-residency" in s["reasons"], site
    chosen = {site for site, s in verdicts.items() if s["verdict"] == "chosen"}
    planned = {a["site"] for a in plan_json["assignments"] if a["workload"] == "support-chat-eu"}
    assert chosen == planned


def test_explain_names_the_fabric_a_gang_needs_per_site(runs, fleet):
    """ft-code-llm (2 x 8 H100/H200, FSDP) needs an RDMA fabric: sites whose H100s sit on plain
    Ethernet are rejected with the fabric reason; it runs where RoCE or InfiniBand joins the servers."""
    run = runs("explain", EXAMPLE, "ft-code-llm")
    assert run.code == 0, run.stderr
    assert "interconnect nvlink within a server, rdma between servers" in run.stdout.splitlines()[1]
    rows = {r[0]: r for r in table(run.stdout, "Every site")}
    for name in ("sin-colo", "hio-1"):
        assert rows[name][1] == "rejected", name
        assert ("fabric: the gang of 2 x 8 GPUs needs 2 servers on one rdma domain; H100-SXM has ethernet"
                in rows[name][-1]), rows[name]
    (chosen,) = [name for name, r in rows.items() if r[1] == "chosen"]
    pool = next(p for p in fleet.sites[chosen].spec.gpus if p.sku in ("H100-SXM", "H200"))
    assert pool.fabric_or_none.type in ("roce", "infiniband")
    as_json = runs("explain", EXAMPLE, "ft-code-llm", "--format", "json").json()
    verdicts = {s["site"]: s for s in as_json["sites"]}
    assert any(r.startswith("fabric: ") for r in verdicts["sin-colo"]["reasons"])


@pytest.mark.parametrize(("name", "hint"), [
    ("no-such-workload", ""),
    ("support-chat-e", " (did you mean 'support-chat-eu'?)"),
])
def test_explain_an_unknown_workload(name, hint):
    run = fleetyard("explain", EXAMPLE, name)
    assert run.code == 2 and run.stdout == ""
    assert f"error: unknown workload '{name}'{hint}" in run.stderr


# --- whatif --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whatif_json(runs: Runs) -> dict[str, Any]:
    run = runs(*WHATIF_JSON)
    assert run.code == 0, run.stderr
    return run.json()


def test_whatif_prints_what_moves_and_the_cost(runs, whatif_json):
    run = runs(*WHATIF)
    assert run.code == 0, run.stderr
    out = run.stdout
    assert out.splitlines()[0].startswith("What if fra-1 fails - failover")
    rows = table(out, "What moves")
    assert [r[:5] for r in rows] == [
        [m["workload"], m["site"], m["gpu_sku"], str(m["before"]), str(m["after"])]
        for m in whatif_json["moves"]]
    assert any(r[1] == "fra-1" and r[4] == "0" for r in rows)
    cost = re.search(r"^cost: \$([\d,.]+)/h -> \$([\d,.]+)/h \(([+-])\$([\d,.]+)/h\)$", out, re.M)
    assert cost, out
    before, after = (float(cost.group(i).replace(",", "")) for i in (1, 2))
    assert before == pytest.approx(whatif_json["cost_per_hour_before"], abs=0.006)
    assert after == pytest.approx(whatif_json["cost_per_hour_after"], abs=0.006)
    delta = float(cost.group(4).replace(",", "")) * (-1 if cost.group(3) == "-" else 1)
    assert delta == pytest.approx(whatif_json["cost_delta_per_hour"], abs=0.006)
    if whatif_json["absorbable"]:
        assert "Absorbable" in out
    else:
        assert {r[0] for r in table(out, "No longer placed or served")} == {
            u["workload"] for u in whatif_json["unplaced"]}


def test_whatif_json(whatif_json, fleet, plan_json):
    wi = whatif_json
    assert {"failed_sites", "absorbable", "moves", "cost_delta_per_hour", "unplaced", "plan"} <= set(wi)
    assert wi["failed_sites"] == ["fra-1"] and isinstance(wi["absorbable"], bool)
    assert wi["cost_delta_per_hour"] == pytest.approx(
        wi["cost_per_hour_after"] - wi["cost_per_hour_before"], abs=1e-3)
    assert wi["cost_per_hour_before"] == pytest.approx(plan_json["totals"]["cost_per_hour"], abs=1e-3)
    for m in wi["moves"]:
        assert {"workload", "site", "gpu_sku", "before", "after"} <= set(m)
        assert m["workload"] in fleet.workloads and m["site"] in fleet.sites and m["before"] != m["after"]
    # everything on fra-1 before the failure moves away, and nothing else appears there
    on_fra = {(a["workload"], a["gpu_sku"]): a["replicas"] for a in plan_json["assignments"]
              if a["site"] == "fra-1"}
    assert on_fra
    assert {(m["workload"], m["gpu_sku"]): m["before"] for m in wi["moves"]
            if m["site"] == "fra-1"} == on_fra
    assert all(m["after"] == 0 for m in wi["moves"] if m["site"] == "fra-1")
    check_plan(wi["plan"], fleet, failed=frozenset({"fra-1"}))
    assert wi["absorbable"] == (not wi["unplaced"])
    for u in wi["unplaced"]:
        assert u["workload"] in fleet.workloads and u["reasons"]


def test_whatif_reasons_name_the_failed_site_as_down_not_full(whatif_json):
    displaced = {m["workload"] for m in whatif_json["moves"] if m["site"] == "fra-1"}
    for u in whatif_json["unplaced"]:
        if u["workload"] in displaced:
            assert "down: fra-1" in u["reasons"], u
        for reason in u["reasons"]:
            assert not ("full" in reason and "fra-1" in reason), reason


def test_whatif_a_failed_site_uses_no_gpus(whatif_json):
    (fra,) = [s for s in whatif_json["plan"]["sites"] if s["site"] == "fra-1"]
    assert not any(a["site"] == "fra-1" for a in whatif_json["plan"]["assignments"])
    assert fra["it_kw"] == 0
    assert sum(fra["gpus_used"].values()) == 0, fra


@pytest.mark.parametrize(("site", "hint"), [("nope", ""), ("fra1", " (did you mean 'fra-1'?)")])
def test_whatif_an_unknown_site(site, hint):
    run = fleetyard("whatif", EXAMPLE, "--fail", site)
    assert run.code == 2 and run.stdout == ""
    assert f"error: --fail: unknown site '{site}'{hint}" in run.stderr


# --- catalog -------------------------------------------------------------------------------------------


def test_catalog_lists_the_skus(runs):
    run = runs("catalog")
    assert run.code == 0
    rows = {r[0]: r for r in table(run.stdout, "GPU catalog")}
    expected = {"H100-SXM": (80, 700), "H100-PCIE": (80, 350), "H200": (141, 700),
                "B200": (180, 1000), "A100-80GB": (80, 400), "L40S": (48, 350), "L4": (24, 72),
                "A10G": (24, 150), "MI300X": (192, 750)}
    assert set(expected) <= set(rows)
    links = {"H100-SXM": "NVLink 4, 900 GB/s", "H100-PCIE": "PCIe Gen5", "H200": "NVLink 4, 900 GB/s",
             "B200": "NVLink 5, 1,800 GB/s", "A100-80GB": "NVLink 3, 600 GB/s", "L40S": "PCIe Gen4",
             "L4": "PCIe Gen4", "A10G": "PCIe", "MI300X": "Infinity Fabric"}  # REFERENCE.md
    for sku, (memory, tdp) in expected.items():
        _, vendor, mem, watts, kw, link, per_server = rows[sku]
        assert (mem, watts) == (str(memory), str(tdp)), sku
        assert vendor == ("AMD" if sku == "MI300X" else "NVIDIA")
        assert kw == f"{tdp * 1.8 / 1000:.2f}"
        assert (link, per_server) == (links[sku], "8"), sku
    assert "GPUs x TDP x 1.8" in run.stdout


# --- broken input -------------------------------------------------------------------------------------


@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    """A copy of the example fleet, to break."""
    dest = tmp_path / "fleet"
    shutil.copytree(EXAMPLE, dest)
    return dest


def _break(path: Path, after: str, old: str, new: str) -> int:
    """Replace the first `old` after the line holding `after`; return its line number."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if after in ln)
    i = next(i for i in range(start, len(lines)) if old in lines[i])
    lines[i] = lines[i].replace(old, new, 1)
    path.write_text("".join(lines))
    return i + 1


def test_plan_on_a_broken_fleet_prints_file_line_path_and_nothing_else(broken_copy):
    sites = broken_copy / "sites-europe.yaml"
    line = _break(sites, "name: fra-1", "count: 32", "count: 0")
    for fmt in ("table", "json"):
        run = fleetyard("plan", broken_copy, "--format", fmt, "--no-resilience")
        assert run.code == 2 and run.stdout == "", fmt
        assert run.stderr.splitlines() == [
            f"{sites}:{line} spec.gpus[0].count: must be >= 1, got 0",
            "1 error in the fleet specification; nothing was planned.",
        ]


def test_every_problem_of_every_file_in_one_run(broken_copy):
    sites = broken_copy / "sites-europe.yaml"
    apps = broken_copy / "workloads-inference.yaml"
    site_line = _break(sites, "name: par-1", "type: small-dc", "type: smalldc")
    typo_line = _break(apps, "name: support-chat-eu", "rps_per_replica:", "rps_per_replicas:")
    region_line = _break(apps, "name: code-complete-eu", "eu-west: 150", "eu-wset: 150")
    run = fleetyard("validate", broken_copy)
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [  # sorted by file, then line
        f"{sites}:{site_line} spec.type: expected one of small-dc, colo, edge, hyperscaler, "
        "got 'smalldc' (did you mean 'small-dc'?)",
        f"{apps}:{typo_line} spec.rps_per_replicas: unknown field 'rps_per_replicas' "
        "(did you mean 'rps_per_replica'?)",
        f"{apps}:{region_line} spec.demand.eu-wset: unknown region 'eu-wset' "
        "(did you mean 'eu-west'?)",
        "3 errors in the fleet specification; nothing was planned.",
    ]


def test_a_warning_goes_to_stderr_and_json_stays_clean(broken_copy):
    policies = broken_copy / "policies.yaml"
    with policies.open("a") as f:
        f.write("---\napiVersion: fleetyard/v1\nkind: Policy\nmetadata: {name: nobody}\n"
                "spec:\n  selector: {team: nobody}\n  denied: {site_types: [edge]}\n")
    warn_line = len(policies.read_text().splitlines()) - 1
    validate = fleetyard("validate", broken_copy)
    assert validate.code == 0 and validate.stdout.startswith("ok: 10 regions, 16 sites, 32 workloads, 6 policies")
    warning = f"{policies}:{warn_line} spec.selector: warning: matches no workload (selector team=nobody)"
    assert warning in validate.stderr
    plan = fleetyard("plan", broken_copy, "--strategy", "greedy", "--no-resilience", "--format", "json")
    assert plan.code == 0 and warning in plan.stderr
    assert plan.json()["totals"]["cost_per_hour"] > 0


@pytest.mark.parametrize("mistake", [
    "malformed-yaml", "not-a-mapping", "not-utf8", "binary", "missing-path", "empty-folder",
    pytest.param("recursive-alias"),
    pytest.param("time-zone-folder"),
])
def test_a_user_mistake_is_exit_2_and_never_a_traceback(tmp_path, mistake):
    folder = tmp_path / "fleet"
    folder.mkdir()
    shutil.copy(EXAMPLE / "regions.yaml", folder)
    shutil.copy(EXAMPLE / "sites-apac.yaml", folder)
    bad = folder / "zz.yaml"
    target: Path = folder
    if mistake == "malformed-yaml":
        bad.write_text("apiVersion: fleetyard/v1\nkind: Region\n  metadata: {name: x}\n")
        expected = f"{bad}:3: malformed YAML"
    elif mistake == "not-a-mapping":
        bad.write_text("- just\n- a list\n")
        expected = f"{bad}:1: expected a resource"
    elif mistake == "not-utf8":
        bad.write_bytes(b"apiVersion: fleetyard/v1\nkind: Region\nmetadata: {name: caf\xe9}\n")
        expected = f"{bad}:3: not UTF-8 text"
    elif mistake == "binary":
        bad.write_bytes(bytes(range(256)) * 4)
        expected = f"{bad}"
    elif mistake == "missing-path":
        target = folder / "nope"
        expected = f"{target}: no such file or folder"
    elif mistake == "empty-folder":
        target = tmp_path / "empty"
        target.mkdir()
        expected = f"{target}: folder has no *.yaml or *.yml files"
    elif mistake == "time-zone-folder":
        sites = folder / "sites-apac.yaml"
        line = _break(sites, "name: tyo-1", "  cooling_kw: 28", "  cooling_kw: 28\n  timezone: Asia")
        expected = f"{sites}:{line + 1} spec.timezone: expected an IANA time zone"
    else:
        bad.write_text("apiVersion: fleetyard/v1\nkind: Region\nmetadata: &m {name: x, labels: *m}\n")
        expected = f"{bad}:3"
    run = fleetyard("plan", target, "--no-resilience")
    assert run.code == 2, run.stderr
    assert run.stdout == ""
    assert expected in run.stderr
    assert "in the fleet specification; nothing was planned." in run.stderr


def test_usage_errors_exit_2():
    assert fleetyard().code == 2
    run = fleetyard("plan")
    assert run.code == 2 and "Missing argument" in run.stderr
