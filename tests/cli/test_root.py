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


def test_a_spinner_on_a_terminal_and_nothing_in_a_pipe() -> None:
    import os
    import pty
    from pathlib import Path

    examples = str(Path(__file__).resolve().parents[2] / "examples" / "fleet")
    args = [sys.executable, "-m", "fleetyard", "plan", examples, "--no-resilience", "-o", "json"]
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin", "TERM": "xterm"}
    master, slave = pty.openpty()
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=slave, env=env, timeout=300, check=False)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert r.returncode == 0 and r.stdout.lstrip().startswith(b"{")  # stdout stays clean JSON
    assert b"planning 32 workloads on 16 sites" in seen
    piped = subprocess.run(args, capture_output=True, env=env, timeout=300, check=False)
    assert piped.returncode == 0 and b"planning" not in piped.stderr
