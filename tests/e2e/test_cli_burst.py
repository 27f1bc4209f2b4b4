"""`fleetyard plan` on a fleet folder with burst caps: the report, the table line, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fleetyard.placement.check import check_plan
from fleetyard.spec import load_fleet
from fleetyard.spec.plan import Plan

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
ENV.pop("FORCE_COLOR", None)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def fleetyard(*args: str | Path) -> Run:
    proc = subprocess.run([sys.executable, "-m", "fleetyard", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=300, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return Run(proc.returncode, proc.stdout, proc.stderr)

FLEET = """\
apiVersion: fleetyard/v1
kind: Region
metadata: {name: eu-central}
spec: {location: {lat: 50.11, lon: 8.68}}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: fra-1}
spec:
  type: small-dc
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus: [{sku: H100-SXM, count: 2}]
  power: {it_capacity_kw: 40, pue: 1.2}
  energy: {price_per_kwh: 0.10, carbon_g_per_kwh: 300}
---
apiVersion: fleetyard/v1
kind: Site
metadata: {name: aws-eu-1}
spec:
  type: hyperscaler
  country: DE
  location: {lat: 50.11, lon: 8.68}
  gpus: [{sku: H100-SXM, count: 16, price_per_gpu_hour: 2.0}]
  power: {it_capacity_kw: 100, pue: 1.2}
  energy: {price_per_kwh: 0.10, carbon_g_per_kwh: 300}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: research-batch, labels: {team: research}}
spec:
  type: batch
  model: batch:1
  replica: {gpus: 1, power_kw: 1.0}
  replicas: {min: 4}
---
apiVersion: fleetyard/v1
kind: Workload
metadata: {name: private-batch, labels: {team: support}}
spec:
  type: batch
  model: batch:1
  priority: 10
  replica: {gpus: 1, power_kw: 1.0}
  replicas: {min: 1}
  burst: never
---
apiVersion: fleetyard/v1
kind: Objective
metadata: {name: default}
spec:
  burst:
    prefer: [small-dc, colo, edge, hyperscaler]
    max_spend_per_hour: 500
    per_team: {research: 5}
"""


def test_plan_with_a_binding_team_cap(tmp_path):
    (tmp_path / "fleet.yaml").write_text(FLEET)
    fleet = load_fleet([tmp_path]).fleet
    run = fleetyard("plan", tmp_path, "--format", "json", "--no-resilience")
    assert run.code == 0, run.stderr
    plan = Plan.model_validate_json(run.stdout)
    assert check_plan(fleet, plan) == []
    where = {(a.workload, a.site): a.replicas for a in plan.assignments}
    # fra-1's 2 GPUs: private-batch (priority 10, may not burst) and one research replica;
    # research may burst 2 replicas at $2.12/h (the third would pass its $5/h cap)
    assert where == {("private-batch", "fra-1"): 1, ("research-batch", "fra-1"): 1,
                     ("research-batch", "aws-eu-1"): 2}
    (short,) = plan.unplaced
    assert short.workload == "research-batch" and short.replicas == 1
    assert short.reasons[0] == "burst cap: team research burst spend capped at $5.00/h"
    assert plan.burst is not None and plan.burst.capped == ["research-batch"]
    assert plan.burst.by_team["research"].spend_per_hour == 4.24 and plan.burst.cap_per_hour == 500
    assert plan.totals.preference_premium_per_hour == 2 * 3 * 0.5  # 2 replicas at rank 3

    table = fleetyard("plan", tmp_path, "--no-resilience")
    assert table.code == 0
    line = next(x for x in table.stdout.splitlines() if x.startswith("Burst"))
    assert "$4.24/h on burst sites (hyperscaler) of a $500.00/h cap" in line
    assert "research $4.24/h of $5.00/h" in line and "capped: research-batch" in table.stdout
    assert "burst cap: team research burst spend capped" in table.stdout

    failing = fleetyard("plan", tmp_path, "--no-resilience", "--fail-on-unplaced", "--strategy", "greedy")
    assert failing.code == 3 and "Burst" in failing.stdout

    explain = fleetyard("explain", tmp_path, "private-batch")
    assert explain.code == 0, explain.stderr
    assert "spec.burst: never" in explain.stdout and "aws-eu-1 is a" in explain.stdout


def test_a_generous_cap_leaves_nothing_out_and_exits_0(tmp_path):
    (tmp_path / "fleet.yaml").write_text(FLEET.replace("per_team: {research: 5}", "per_team: {research: 50}"))
    run = fleetyard("plan", tmp_path, "--no-resilience", "--fail-on-unplaced")
    assert run.code == 0, run.stdout + run.stderr
    assert "capped:" not in run.stdout


def test_a_bad_burst_section_exits_2(tmp_path):
    text = FLEET.replace("max_spend_per_hour: 500", "max_spend_per_hour: -5")
    (tmp_path / "fleet.yaml").write_text(text)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "max_spend_per_hour" in x)
    run = fleetyard("plan", tmp_path)
    assert run.code == 2 and run.stdout == ""
    assert f"fleet.yaml:{line} spec.burst.max_spend_per_hour: must be >= 0.0, got -5" in run.stderr
