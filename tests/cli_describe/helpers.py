"""Shared by the describe tests: the CLI in-process, the test fleet with one workload edited,
and a line reader with bounded waits for `--watch` subprocesses."""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
from pathlib import Path

from typer.testing import CliRunner

from fleetyard.cli.app import app
from tests.server.conftest import FLEET, ServerProcess

runner = CliRunner()
WAIT_S = 60.0  # the longest any wait for a --watch line may take


def run(server: ServerProcess | None, *args: str) -> tuple[int, str, str]:
    """`fleetyard ARGS` in-process, against `server` (FLEETYARD_SERVER/TOKEN); no traceback allowed."""
    env = {"COLUMNS": "200"}
    if server is not None:
        env |= {"FLEETYARD_SERVER": server.url, "FLEETYARD_TOKEN": server.admin_token}
    r = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in r.stdout + r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def edited_fleet(tmp: Path, min_replicas: int = 5) -> Path:
    """The test fleet with chat-eu's `replicas.min` changed, its MODE changed and an API_TOKEN added."""
    out = tmp / f"fleet-{min_replicas}"
    shutil.copytree(FLEET, out)
    w = out / "workloads.yaml"
    text = w.read_text()
    assert "replicas: {min: 3, max: 8}" in text and "env: {MODE: chat}" in text
    w.write_text(text.replace("replicas: {min: 3, max: 8}", f"replicas: {{min: {min_replicas}, max: 8}}")
                 .replace("env: {MODE: chat}", "env: {MODE: chat2, API_TOKEN: hunter2}"))
    return out


class Lines:
    """A subprocess's stdout, line by line, each wait bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout: float = WAIT_S) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s") from None
        assert line is not None, "the process ended"
        return line
