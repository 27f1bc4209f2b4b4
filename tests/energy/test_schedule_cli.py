"""End to end: `fleetyard schedule` on the example fleet (the real CLI, in process via CliRunner).

The example's always-on work comes from the greedy planner here (`-s greedy`, the quick
one); the default optimizer fills the EU H100s with always-on work, which one test checks
(the jobs that no longer fit are listed with reasons, exit 3 with --fail-on-unscheduled).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.cli.schedule_cmd import parse_hours

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "fleet")
RUNNER = CliRunner()
JOB_KEYS = {"workload", "site", "gpu_sku", "replicas", "slots", "kwh", "carbon_kg", "cost"}


def run(*args: str) -> tuple[int, str, str]:
    res = RUNNER.invoke(app, ["schedule", EXAMPLE, *args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def carbon_json() -> dict:
    code, out, err = run("-s", "greedy", "--objective", "carbon", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_json_has_the_contract_shape(carbon_json):
    doc = carbon_json
    assert {"jobs", "totals", "baseline"} <= set(doc)
    assert doc["jobs"] and all(JOB_KEYS <= set(j) for j in doc["jobs"])
    assert all({"start", "end"} == set(slot) for j in doc["jobs"] for slot in j["slots"])
    assert {"jobs", "totals"} <= set(doc["baseline"])
    # defaults: from the earliest `earliest` to the latest deadline of the example's jobs
    assert (doc["start"], doc["end"]) == ("2020-06-01T00:00:00Z", "2020-06-06T00:00:00Z")
    assert doc["bound"]["bound"] <= doc["bound"]["value"] + 1e-9
    assert doc["savings"]["carbon_kg"] >= 0


def test_table_shows_each_job_beside_its_baseline_and_the_bound():
    code, out, _ = run("-s", "greedy", "--objective", "carbon")
    assert code == 0
    assert "nightly-eval-eu" in out and "Run now" in out and "Savings" in out and "Bound" in out


def test_trace_gap_exits_2_naming_site_trace_and_interval():
    code, out, err = run("-s", "greedy", "--start", "2021-03-01T00:00:00Z", "--horizon", "72h")
    assert code == 2 and not out
    assert "fra-1" in err and "de-2020.csv" in err
    assert "2021-03-01T00:00:00Z to 2021-03-04T00:00:00Z" in err and "--extend repeat-daily" in err


def test_extend_repeat_daily_schedules_past_the_trace():
    code, out, err = run("-s", "greedy", "--start", "2021-03-01T00:00:00Z", "--horizon", "3d",
                         "--extend", "repeat-daily", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["start"] == "2021-03-01T00:00:00Z" and doc["end"] == "2021-03-04T00:00:00Z"
    # the example's June windows lie before this horizon: every job is unscheduled, with why
    assert not doc["jobs"]
    assert all("ends before the horizon" in u["reasons"][0] for u in doc["unscheduled"])


def test_unscheduled_jobs_have_reasons_and_exit_3_when_asked():
    code, out, _ = run("--format", "json", "--fail-on-unscheduled")
    assert code == 3
    doc = json.loads(out)
    reasons = {u["workload"]: u["reasons"] for u in doc["unscheduled"]}
    assert "ft-weekly-support" in reasons
    assert "room left by the always-on plan" in reasons["ft-weekly-support"][0]


@pytest.mark.parametrize("args", [["--horizon", "3x"], ["--start", "June"], ["--slot", "0h"],
                                  ["--horizon", "90m"], ["--objective", "cheap"]])
def test_bad_arguments_exit_2(args):
    code, out, err = run("-s", "greedy", *args)
    assert code == 2 and not out and "error" in err


def test_durations():
    assert parse_hours("72h") == 72.0 and parse_hours("3d") == 72.0 and parse_hours("90m") == 1.5
    assert parse_hours("1w") == 168.0 and parse_hours("6") == 6.0
    assert isinstance(parse_hours("-1h"), str) and isinstance(parse_hours("soon"), str)
