"""The validation gate at a site, and an agent SIGKILLed mid-switch, with real processes.

A validation runs once per (workload, version) before the version serves; a failed or
hung one keeps the old version serving and says why; the verdict survives a restart.
An agent killed in the middle of a switch (or of a validation) comes back on the
version that was healthy, never on the half-switched or unvalidated one.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.rollout_site import Site, site_fixture, wait_until
from tests.agent.test_rollout_agent import HEALTH, on, serving

# Appends a line to APP_OUT/smoke-<version>.runs, writes its env, then does as SMOKE_MODE says.
SMOKE = r'''
import json, os, signal, sys, time
version = os.environ["FLEETYARD_MODEL"].split(":")[1]
out = os.path.join(os.environ["APP_OUT"], f"smoke-{version}")
open(out + ".runs", "a").write(f"{os.getpid()}\n")
env = {k: v for k, v in os.environ.items() if k.startswith("FLEETYARD_")}
open(out + ".env", "w").write(json.dumps({"env": env, "cwd": os.getcwd()}))
mode = json.load(open("app.json")).get("smoke", "pass")
if mode == "fail":
    print("loading weights"); print("smoke: wrong answer for 2+2: got 5"); sys.exit(3)
if mode == "hang":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # so the agent must SIGKILL it
    time.sleep(600)
if mode == "slow":
    time.sleep(600)
print("smoke: ok")
'''


def validate(timeout_s: float = 60) -> dict[str, Any]:
    return {"command": ["python3", "smoke.py"], "timeout_s": timeout_s}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from site_fixture(tmp_path)


def runs(site: Site, version: str) -> list[int]:
    try:
        return [int(x) for x in (site.out / f"smoke-{version}.runs").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def only(site: Site, ref: str, n: int = 2) -> bool:
    """`n` ready replicas of `ref` and nothing else running."""
    return serving(site, ref, n) and len(site.lives.alive()) == n


def validation(site: Site, ref: str, state: str) -> dict[str, Any] | None:
    h = site.health()
    return h if h and h["model"] == ref and h["validation"] == state else None


def test_a_failed_validation_keeps_the_old_version_and_is_remembered_across_a_restart(site: Site) -> None:
    v1 = site.push("1", files={"smoke.py": SMOKE})
    v2 = site.push("2", smoke="fail", files={"smoke.py": SMOKE})
    site.want(v1, health=HEALTH, validate=validate())
    site.start_agent()
    wait_until(lambda: on(site, v1), "m:1 validated and serving")
    seen = json.loads((site.out / "smoke-1.env").read_text())
    assert seen["cwd"] == str(site.data / "models" / "m" / "1")
    assert seen["env"]["FLEETYARD_MODEL_DIR"] == seen["cwd"] and seen["env"]["FLEETYARD_SITE"] == "par-1"
    assert seen["env"]["FLEETYARD_VALIDATE"] == "1" and "FLEETYARD_TOKEN" not in seen["env"]

    site.want(v2, health=HEALTH, validate=validate(), keep=[v1])
    h = wait_until(lambda: validation(site, v2, "failed"), "m:2 validation failed")
    assert h["validation_message"] == ("validation: exited with code 3: loading weights | "
                                       "smoke: wrong answer for 2+2: got 5")
    w = site.workload()
    assert w is not None and w["model"] == v1 and w["error"].startswith("running m:1; m:2: validation: exited")
    assert only(site, v1) and not [r for r in site.lives.all() if r["model"] == v2]  # m:2 never ran

    site.kill_agent(signal.SIGTERM)
    restarted = time.time()
    site.start_agent()
    wait_until(lambda: only(site, v1) and validation(site, v2, "failed")
               and all(r["started"] > restarted for r in site.lives.alive()), "m:1 back, m:2 still failed")
    assert len(runs(site, "2")) == 1 and len(runs(site, "1")) == 1  # neither validation ran again
    assert not [r for r in site.lives.all() if r["model"] == v2]


def test_a_hanging_validation_is_killed_at_its_timeout_and_fails_the_gate(site: Site) -> None:
    v1 = site.push("1")
    v2 = site.push("2", smoke="hang", files={"smoke.py": SMOKE})
    site.want(v1, health=HEALTH)
    site.start_agent()
    wait_until(lambda: on(site, v1), "m:1 serving")
    site.want(v2, health=HEALTH, validate=validate(timeout_s=2), keep=[v1])
    wait_until(lambda: runs(site, "2"), "the validation started")
    h = wait_until(lambda: validation(site, v2, "failed"), "m:2 validation timed out", timeout=120)
    assert h["validation_message"] == "validation: timed out after 2 s"
    assert not alive(runs(site, "2")[0])  # SIGTERM was ignored: it got SIGKILL
    assert only(site, v1) and not [r for r in site.lives.all() if r["model"] == v2]


def test_an_agent_killed_mid_switch_comes_back_on_the_healthy_version(site: Site) -> None:
    v1 = site.push("1", files={"smoke.py": SMOKE})
    v2 = site.push("2", healthz=500, files={"smoke.py": SMOKE})
    site.want(v1, health=HEALTH, validate=validate())
    site.start_agent()
    wait_until(lambda: on(site, v1), "m:1 serving")
    site.want(v2, health=HEALTH, validate=validate(), max_unavailable=1, keep=[v1])

    def half_switched() -> bool:
        h = validation(site, v2, "passed")
        return bool(h and h["total"] == 1 and h["last_error"] == "GET /healthz returned 500")

    wait_until(half_switched, "m:2 validated, one replica started beside m:1, failing its probe")
    before = {r["pid"] for r in site.lives.alive()}
    site.kill_agent(signal.SIGKILL)  # its replicas live on, orphaned
    killed_at = time.time()
    site.start_agent()

    def back_and_retrying() -> bool:
        h = site.health()
        return bool(h and h["model"] == v2 and h["total"] == 1 and h["last_error"] == "GET /healthz returned 500"
                    and len([r for r in site.lives.alive(v1) if r["started"] > killed_at and r["ready"]]) == 2)

    wait_until(back_and_retrying, "m:1 back on both replicas, m:2 tried again beside it")
    assert not any(alive(p) for p in before)  # the orphans were stopped
    after = [r for r in site.lives.all() if r["started"] > killed_at]
    first_two = after[:2]
    assert [r["model"] for r in first_two] == [v1, v1]  # the healthy version first, not the half-switched one
    assert all(r["ready"] < min(x["started"] for x in after if x["model"] == v2) for r in first_two)
    assert len(runs(site, "2")) == 1  # the passed validation was not run again


def test_an_agent_killed_during_a_validation_runs_it_again_and_never_the_unvalidated_version(site: Site) -> None:
    v1 = site.push("1")
    v2 = site.push("2", smoke="slow", files={"smoke.py": SMOKE})
    site.want(v1, health=HEALTH)
    site.start_agent()
    wait_until(lambda: on(site, v1), "m:1 serving")
    site.want(v2, health=HEALTH, validate=validate(timeout_s=300), keep=[v1])
    wait_until(lambda: validation(site, v2, "running") and runs(site, "2"), "m:2 validating")
    first = runs(site, "2")[0]
    site.kill_agent(signal.SIGKILL)
    site.start_agent()
    wait_until(lambda: len(runs(site, "2")) == 2 and only(site, v1) and validation(site, v2, "running"),
               "m:1 back and m:2 validating again")
    assert not alive(first)  # the validation the dead agent left running was stopped
    assert not [r for r in site.lives.all() if r["model"] == v2]
    os.kill(runs(site, "2")[1], signal.SIGTERM)  # let the test end quickly: the validation fails
    h = wait_until(lambda: validation(site, v2, "failed"), "m:2 validation ended")
    assert h["validation_message"] == "validation: killed by signal 15"
