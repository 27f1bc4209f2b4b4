"""A sync killed with SIGKILL at random moments finishes later, fetching only what it lacked."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fleetyard.registry import Store, missing_chunks, pull, verify_store
from tests.replication.models import tree

ROOT = Path(__file__).resolve().parents[2]
RATE = 2_000_000  # bytes/s: the 4 MB model takes about 2 s


def start(center: Store, local: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.replication.sync_child", center.url, str(local), "m:1", str(RATE), str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_sigkill_at_random_points_then_finish(center: Store, tmp_path: Path) -> None:
    from fleetyard.registry import open_store

    rng = random.Random(4)
    local_path = tmp_path / "site"
    need = missing_chunks(center, "m:1").total_bytes
    held_before: list[int] = []
    for i in range(3):
        proc = start(center, local_path, tmp_path / f"r{i}.json")
        # wait until the child is transferring, then kill it at a random moment
        deadline = time.monotonic() + 30
        while not (tmp_path / f"r{i}.json.started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.1, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        local = open_store(local_path)
        assert not local.has_version("m", "1"), "a killed sync must not leave a version behind"
        held_before.append(need - missing_chunks(center, "m:1", have=local.index().digests()).total_bytes)
    print("held after each kill:", held_before, "of", need)
    assert held_before[-1] > 0, "progress made before the kills is kept"
    assert held_before == sorted(held_before) and held_before[0] < held_before[-1] < need
    local = open_store(local_path)
    missing = missing_chunks(center, "m:1", have=local.index().digests()).total_bytes
    proc = start(center, local_path, tmp_path / "final.json")
    assert proc.wait(timeout=60) == 0
    result = json.loads((tmp_path / "final.json").read_text())
    assert result["outcome"] == "synced"
    assert result["chunk_bytes"] == missing == result["bytes_needed"]
    assert result["received"] <= missing + 64 * 1024  # plus manifest, recipe and pack indexes
    report = verify_store(local)
    assert report.ok, report.problems
    pull(local, "m:1", tmp_path / "out")
    pull(center, "m:1", tmp_path / "ref")
    assert tree(tmp_path / "out") == tree(tmp_path / "ref")
