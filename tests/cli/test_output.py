"""`-o json` and `-o yaml` carry the same data on every read command, and the default tables
fit 80 columns without cutting names (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.server.conftest import ServerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "fleet"
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "FLEETYARD_CONFIG": "/nonexistent/config.yaml"}


def fleetyard(*args: str, columns: int = 200, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", *args], capture_output=True, text=True, timeout=300,
                          env={**ENV, "COLUMNS": str(columns), **env}, check=False)


# the clock, not the data
TIMING = {"seconds", "stage_seconds", "baseline_seconds", "wall_seconds", "age_s", "last_heartbeat"}


def untimed(value: object) -> object:
    """The data without the fields that measure how long a run took (two runs differ there)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def same_data(*args: str, **env: str) -> object:
    as_json = fleetyard(*args, "-o", "json", **env)
    as_yaml = fleetyard(*args, "-o", "yaml", **env)
    assert as_json.returncode == as_yaml.returncode == 0, as_json.stderr + as_yaml.stderr
    data = json.loads(as_json.stdout)
    assert untimed(yaml.safe_load(as_yaml.stdout)) == untimed(data)
    assert "&id" not in as_yaml.stdout
    return data


OFFLINE = [
    ("plan", str(EXAMPLES), "--no-resilience"),
    ("explain", str(EXAMPLES), "support-chat-eu"),
    ("whatif", str(EXAMPLES), "--fail", "fra-1"),
    ("schedule", str(EXAMPLES)),
    ("tco", str(EXAMPLES)),
    ("catalog",),
]


@pytest.mark.parametrize("args", OFFLINE, ids=[a[0] for a in OFFLINE])
def test_offline_read_commands_give_the_same_data_as_json_and_yaml(args: tuple[str, ...]) -> None:
    assert same_data(*args)


SERVER = [("get", "sites"), ("get", "workloads"), ("get", "plan"), ("get", "revisions"), ("status",),
          ("audit",), ("token", "ls"), ("events",), ("describe", "workload", "chat-eu"), ("registry", "ls")]


def test_server_read_commands_give_the_same_data_as_json_and_yaml(server: ServerProcess) -> None:
    auth = {"FLEETYARD_SERVER": server.url, "FLEETYARD_TOKEN": server.admin_token}
    for args in SERVER:
        same_data(*args, **auth)


@pytest.mark.parametrize("args", [("plan", str(EXAMPLES), "--no-resilience"),
                                  ("explain", str(EXAMPLES), "support-chat-eu")], ids=["plan", "explain"])
def test_plan_tables_fit_80_columns_and_keep_names(args: tuple[str, ...]) -> None:
    r = fleetyard(*args, columns=80)
    assert r.returncode == 0, r.stderr
    widest = max(len(line) for line in r.stdout.splitlines())
    assert widest <= 80, f"{widest} columns"
    assert "…" not in r.stdout and "..." not in r.stdout.replace("(...)", "")
    assert "transcribe-archive" in r.stdout or args[0] == "explain"
    wide = fleetyard(*args, "-o", "wide", columns=200)
    if args[0] == "plan":
        assert "WHY" in wide.stdout and "PRIO" in wide.stdout and "WHY" not in r.stdout
