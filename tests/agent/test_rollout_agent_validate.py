"""The validation runner on its own, with real subprocesses: words, memory, a changed command."""

from __future__ import annotations

import sys
from pathlib import Path

from fleetyard.agent.validate import Validation, Validations
from fleetyard.spec.rollout import ValidateSpec
from tests.agent.rollout_site import wait_until


def finished(v: Validations, ref: str, spec: ValidateSpec, folder: Path) -> Validation | None:
    got = v.ensure("chat", ref, spec, folder, {"APP_MODE": "eu"})
    return got if got.state in ("passed", "failed") else None


def test_output_is_cleaned_for_the_report_and_verdicts_are_remembered(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "2"
    folder.mkdir(parents=True)
    state, logs = tmp_path / "state" / "validations.json", tmp_path / "logs"
    noisy = ValidateSpec(command=[sys.executable, "-c",
                                  "import sys; print('a\\x00b\\x1b[31mred'); print('x' * 900); sys.exit(4)"])
    v = Validations(state, logs, site="par-1")
    got = wait_until(lambda: finished(v, "m:2", noisy, folder), "a verdict")
    assert got.state == "failed" and got.message is not None
    assert got.message.startswith("validation: exited with code 4: ")
    assert "\x00" not in got.message and "\x1b" not in got.message and len(got.message) < 600
    ok = ValidateSpec(command=[sys.executable, "-c", "import os; assert os.environ['APP_MODE'] == 'eu'"])
    assert wait_until(lambda: finished(v, "m:3", ok, folder), "m:3 verdict").state == "passed"

    again = Validations(state, logs, site="par-1")  # a restarted agent
    assert again.get("chat", "m:2", noisy).state == "failed" and again.get("chat", "m:3", ok).state == "passed"
    # the same version with another command is validated again
    assert again.get("chat", "m:3", noisy).state == "none"
    missing = ValidateSpec(command=["/nonexistent/smoke"])
    got = wait_until(lambda: finished(again, "m:4", missing, folder), "m:4 verdict")
    assert got.message is not None and got.message.startswith("validation: could not start /nonexistent/smoke")
