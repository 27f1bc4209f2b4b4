"""`fleetyard demo` runs a whole fleet end to end on loopback and cleans up after itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetyard.agent.demofleet import DEMO_FLEET

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_demo_fleet_is_examples_demo() -> None:
    assert (ROOT / "examples" / "demo" / "fleet.yaml").read_text(encoding="utf-8") == DEMO_FLEET


@pytest.mark.timeout(150)
def test_demo_runs_end_to_end_well_under_a_minute(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "160", "TMPDIR": str(tmp_path)}
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "fleetyard", "demo"], capture_output=True, text=True, timeout=140,
                       env=env, check=False)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "every site runs demo-llm:1" in out and "every site runs demo-llm:2" in out
    # the second site of each region got the model from the first
    assert re.search(r"fra-2 .*peer fra-1", out) and re.search(r"par-2 .*peer par-1", out), out
    ratios = [float(x) for x in re.findall(r"(\d+\.\d\d)x", out)]
    assert len(ratios) == 4 and max(ratios) <= 1.1, out
    assert "Fleet status" in out and "server and agents stopped" in out
    assert elapsed < 60, elapsed
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone
