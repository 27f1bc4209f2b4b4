"""Kill an agent's rollout (sync, materialize, activate) with SIGKILL at random moments.

After every kill the site must hold nothing corrupt and nothing half-written that
could run: the local store verifies, every version folder in `models/` verifies
against the signing key, `active` points at a complete version (or nothing), and a
restarted agent finishes the rollout. Used by tests/replication/test_agent_kills.py
(a few kills) and benchmarks/agent_kill_bench.py (the issue's 50).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fleetyard.agent.models import ModelDirs
from fleetyard.registry import Store, open_store, verify_store
from fleetyard.registry.signing import verify_folder

ROOT = Path(__file__).resolve().parents[2]
RATE = 4_000_000  # bytes/s: the transfer part of a rollout (m:1, then the m:2 delta) takes about 1.5 s


@dataclass
class Campaign:
    kills: int = 0
    finished_before_kill: int = 0
    problems: list[str] = field(default_factory=list)
    actives: dict[str, int] = field(default_factory=dict)  # active version seen after a kill -> count
    window: float = 0.0  # seconds a whole rollout took here (the kills fall within it)


def _start(center: Store, site: Path, pub: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.replication.agent_child", center.url, str(site), str(pub), str(RATE)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def check_site(site: Path, pub: Path) -> tuple[list[str], str | None]:
    """What is wrong at a site after a crash (empty: nothing), and its active version."""
    problems: list[str] = []
    store_dir = site / "registry"
    if store_dir.exists():
        report = verify_store(open_store(store_dir))
        problems += [f"store: {p}" for p in report.problems]
    models = ModelDirs(site / "models", [pub])
    active = models.active("m") if (site / "models").exists() else None
    folder = site / "models" / "m"
    for version in sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []:
        path = folder / version
        if path.is_symlink():
            continue
        try:
            verify_folder(path, pub, f"m:{version}")
        except Exception as exc:  # any failure to verify is a half-written version
            problems.append(f"models/m/{version} does not verify: {exc}")
    if active is not None and not (folder / active).is_dir():
        problems.append(f"active points at {active}, which is not a complete folder")
    return problems, active


def timed_run(center: Store, site: Path, pub: Path) -> float:
    """Seconds one whole rollout takes here, from a fresh site (process start included)."""
    t0 = time.monotonic()
    proc = _start(center, site, pub)
    proc.communicate(timeout=120)
    return time.monotonic() - t0


def run(center: Store, site: Path, pub: Path, kills: int, seed: int) -> Campaign:
    """Runs of the agent, each SIGKILLed at a random moment (uniform) within the time a
    whole rollout takes on this machine now, until `kills` of them were killed before
    they finished (at most 3 x `kills` runs), the site checked after each; then one run
    to the end. The window is measured, not assumed, so the kill points spread
    over the rollout on a fast or a slow machine alike."""
    import shutil

    rng = random.Random(seed)
    out = Campaign()
    window = 0.0
    if kills:
        window = timed_run(center, site, pub)
        shutil.rmtree(site)
    out.window = window
    i = 0
    while out.kills < kills and i < 3 * kills:  # runs that end before their moment are not kills: run more
        i += 1
        if i % 4 == 1 and site.exists():  # every 4th run starts a fresh site: early points get hit too
            shutil.rmtree(site)
        proc = _start(center, site, pub)
        time.sleep(rng.uniform(0.0, window))
        if proc.poll() is not None:
            out.finished_before_kill += 1
        else:
            proc.send_signal(signal.SIGKILL)
            out.kills += 1
        proc.wait(timeout=60)
        problems, active = check_site(site, pub)
        out.problems += [f"kill {i}: {p}" for p in problems]
        out.actives[str(active)] = out.actives.get(str(active), 0) + 1
    proc = _start(center, site, pub)
    _, err = proc.communicate(timeout=120)
    if proc.returncode != 0:
        out.problems.append(f"the final run failed: {err.decode(errors='replace')[-500:]}")
    problems, active = check_site(site, pub)
    out.problems += [f"final: {p}" for p in problems]
    if active != "2":
        out.problems.append(f"final: active is {active}, not 2")
    return out
