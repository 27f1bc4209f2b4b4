"""The root command: --version, and help without `<bool>` after every flag (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest


def fleetyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", *args], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"}, check=False)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    r = fleetyard(flag)
    assert r.returncode == 0 and r.stdout.strip() == f"fleetyard {version('fleetyard')}"


@pytest.mark.parametrize("command", [[], ["plan"], ["apply"], ["registry", "pull"], ["config", "set-context"]])
def test_help_has_no_bool_noise(command: list[str]) -> None:
    r = fleetyard(*command, "--help")
    assert r.returncode == 0 and "Usage:" in r.stdout
    assert "<bool>" not in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_shell_completion_script() -> None:
    r = fleetyard("--show-completion", "bash")
    assert r.returncode == 0 and "COMP_WORDS" in r.stdout and "complete -o default -F" in r.stdout
