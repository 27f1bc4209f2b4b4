"""`fleetyard demo` runs a whole fleet end to end on loopback and cleans up after itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fleetyard.agent.demofleet import DEMO_FLEET

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_demo_fleet_is_examples_demo() -> None:
    assert (ROOT / "examples" / "demo" / "fleet.yaml").read_text(encoding="utf-8") == DEMO_FLEET


@pytest.mark.timeout(420)
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """How long it takes is the business of benchmarks, not of this test (the machine is shared)."""
    env = {**os.environ, "COLUMNS": "160", "TMPDIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "fleetyard", "demo"], capture_output=True, text=True, timeout=400,
                       env=env, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "every site runs demo-llm:1" in out and "every site runs demo-llm:2" in out
    # the second site of each region got the model from the first
    assert re.search(r"fra-2 .*peer fra-1", out) and re.search(r"par-2 .*peer par-1", out), out
    ratios = [float(x) for x in re.findall(r"(\d+\.\d\d)x", out)]
    assert len(ratios) == 4 and max(ratios) <= 1.1, out
    assert "Fleet status" in out and "server and agents stopped" in out
    # a canary that fails and rolls back on its one site, then one that succeeds
    assert re.search(r"demo-chat wave 0 \((\S+)\): rolled_back - \1: ", out), out
    assert "demo-llm:3 never went past its canary site; every site runs demo-llm:2" in out
    assert "demo-chat runs demo-llm:4 on every site" in out
    assert "wave 1 (" in out and re.search(r"Rollout demo-chat #\d+: model demo-llm:2 -> demo-llm:4 succeeded", out)
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone
