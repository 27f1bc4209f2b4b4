"""The console script imports only the command it runs (cli/main.py, cli/root.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from fleetyard.cli.app import app
from fleetyard.cli.root import COMMANDS, command_of

PROBE = """
import json, sys
sys.argv = ["fleetyard", *json.loads(sys.argv[1])]
from fleetyard.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = [m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "fastapi", "highspy", "numpy")
         or m.startswith(("fleetyard.placement", "fleetyard.services.db"))]
print(json.dumps({"code": code, "loaded": sorted(heavy)}))
"""


def _run(args: list[str], home: Path) -> dict[str, object]:
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("FLEETYARD_CONTEXT", None)
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_table_names_every_command_of_the_whole_tree() -> None:
    assert sorted(COMMANDS) == sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("argv", "name"), [
    (["plan", "fleet/"], "plan"),
    (["--context", "prod", "get", "sites"], "get"),
    (["--token-file", "t", "-o", "x"], "x"),
    (["--context=prod", "status"], "status"),
    (["--help"], None),
    ([], None),
])
def test_the_command_is_the_first_word_that_is_not_a_root_option(argv: list[str], name: str | None) -> None:
    assert command_of(argv) == name


@pytest.mark.parametrize("args", [["--version"], ["config", "get-contexts"], ["keys", "--help"]])
def test_light_commands_load_no_solver_database_or_web_framework(args: list[str], tmp_path: Path) -> None:
    result = _run(args, tmp_path)
    assert result["code"] in (0, None)
    assert result["loaded"] == [], f"fleetyard {' '.join(args)} imported {result['loaded']}"


def test_a_heavy_command_still_gets_what_it_needs(tmp_path: Path) -> None:
    result = _run(["catalog", "-o", "json"], tmp_path)
    assert result["code"] in (0, None)
    assert any(str(m).startswith("fleetyard.placement") for m in result["loaded"]), result  # type: ignore[attr-defined]


def test_python_dash_m_and_the_full_help_list_every_command(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "fleetyard", "--help"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100"}, timeout=120, check=True)
    for name in ("plan", "registry", "describe", "config", "keys"):
        assert f" {name} " in done.stdout
