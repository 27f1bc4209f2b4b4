"""`fleetyard cost` end to end on the examples and on a hand-priced fleet: table, json, csv, errors."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetyard.spec.allocation import Allocation
from tests.energy import costfleet as cf

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "fleet"
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
ENV.pop("FORCE_COLOR", None)
ENV.pop("FLEETYARD_SERVER", None)


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


def test_json_by_team_on_the_examples():
    run = fleetyard("cost", EXAMPLES, "--by", "team", "--period", "7d", "--start", "2020-06-01T00:00:00Z",
                    "--format", "json")
    assert run.code == 0, run.stderr
    a = Allocation.model_validate_json(run.stdout)
    assert a.source == "plan" and a.by == "team"
    assert a.period.start.isoformat() == "2020-06-01T00:00:00+00:00"
    assert (a.period.end - a.period.start).days == 7
    keys = [r.key for r in a.rows]
    assert "support" in keys and "research" in keys and len(keys) == len(set(keys))
    assert a.totals.cost == sum(r.cost for r in a.rows) and a.totals.cost > 0
    assert a.totals.gpu_hours % (7 * 24) == 0  # the plan's GPUs every hour
    assert any("deferrable" in n for n in a.notes)  # the three scheduled jobs are not in the plan


def test_table_has_a_totals_row_and_shares(tmp_path):
    run = fleetyard("cost", cf.write(tmp_path), "--by", "site", "--period", "10h", "--start",
                    "2020-06-01T00:00:00Z")
    assert run.code == 0, run.stderr
    assert "Cost by site, 2020-06-01T00:00:00Z to 2020-06-01T10:00:00Z (10 h" in run.stdout
    lines = run.stdout.splitlines()
    cells = [[c.strip() for c in line.strip("│┃ ").split("│")] for line in lines]
    total = next(row for row in cells if row[0] == "Total")
    assert "100.0%" in total
    assert any(row[0] in ("a", "b") and any("%" in c for c in row) for row in cells)


def test_csv_has_one_row_per_key_and_matches_json(tmp_path):
    fleet_dir = cf.write(tmp_path / "fleet")
    common = ("cost", fleet_dir, "--by", "workload", "--period", "10h", "--start", "2020-06-01T00:00:00Z")
    out = tmp_path / "cost.csv"
    run = fleetyard(*common, "--format", "csv", "--output", out)
    assert run.code == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["key"] for r in rows] == ["train", "serve"]  # the planner places the hand-priced fleet
    a = Allocation.model_validate_json(fleetyard(*common, "--format", "json").stdout)
    for r, want in zip(rows, a.rows, strict=True):
        assert float(r["cost"]) == want.cost and float(r["share"]) == want.share
    assert sum(float(r["gpu_hours"]) for r in rows) == 10 * 6  # 2 x 2 H100/L4 + 2 x 1 L4


def test_bad_by_is_exit_2_with_the_choices(tmp_path):
    run = fleetyard("cost", cf.write(tmp_path), "--by", "teams")
    assert run.code == 2
    assert "--by: expected one of team, label:KEY, site, workload, got 'teams'" in run.stderr


@pytest.mark.parametrize(("args", "words"), [
    (("--period", "30"), "--period: expected a period such as 30d, 72h or 2w"),
    (("--start", "2020-06-01"), "--start: expected a time with a UTC offset"),
    (("--output", "x.csv"), "--output: needs --format json, csv or focus"),
])
def test_bad_arguments_are_exit_2(tmp_path, args, words):
    run = fleetyard("cost", cf.write(tmp_path), *args)
    assert run.code == 2 and words in run.stderr


def test_a_period_the_trace_does_not_cover_is_exit_2_naming_site_trace_interval(tmp_path):
    folder = cf.write(tmp_path / "fleet", trace=cf.TRACE)
    out = tmp_path / "cost.json"
    run = fleetyard("cost", folder, "--period", "3h", "--format", "json", "--output", out)
    assert run.code == 2
    assert "site a: trace" in run.stderr and "a.csv" in run.stderr
    assert "does not cover 2020-06-01T02:00:00Z to 2020-06-01T03:00:00Z" in run.stderr
    assert "--extend repeat-daily" in run.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "fleet"]  # nothing half-written
    # the default start is the trace's start: 2 hours are covered
    ok = fleetyard("cost", folder, "--period", "2h", "--format", "json")
    assert ok.code == 0, ok.stderr
    assert Allocation.model_validate_json(ok.stdout).period.start.isoformat() == "2020-06-01T00:00:00+00:00"


def test_files_or_server_not_both_and_focus_needs_files(tmp_path):
    folder = cf.write(tmp_path)
    both = fleetyard("cost", folder, "--server", "http://127.0.0.1:9")
    assert both.code == 2 and "not both" in both.stderr
    neither = fleetyard("cost")
    assert neither.code == 2 and "--server URL" in neither.stderr
    focus = fleetyard("cost", "--server", "http://127.0.0.1:9", "--format", "focus")
    assert focus.code == 2 and "needs fleet spec folders" in focus.stderr


def test_server_unreachable_is_one_line_not_a_traceback():
    run = fleetyard("cost", "--server", "http://127.0.0.1:9", "--by", "site")
    assert run.code == 1 and "cannot connect to http://127.0.0.1:9" in run.stderr
