"""The process runtime with real subprocesses: env, restarts with backoff, scaling, rollouts."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetyard.agent.runtime import ProcessRuntime, WorkloadRun

# Writes its environment (and pid) to OUT/<workload>-<replica>.json, then sleeps.
SCRIPT = (
    "import json, os, sys, time\n"
    "env = {k: v for k, v in os.environ.items() if k.startswith(('FLEETYARD_', 'APP_'))}\n"
    "env['pid'] = os.getpid()\n"
    "out = os.path.join(sys.argv[1], os.environ['FLEETYARD_WORKLOAD'] + '-' + os.environ['FLEETYARD_REPLICA'])\n"
    "open(out + '.tmp', 'w').write(json.dumps(env)); os.replace(out + '.tmp', out + '.json')\n"
    "time.sleep(600)\n"
)


def wait_for(cond: Callable[[], object], rt: ProcessRuntime | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        if rt is not None:
            rt.poll()
        time.sleep(0.02)


def seen(out: Path, name: str) -> dict[str, object]:
    try:
        return dict(json.loads((out / f"{name}.json").read_text()))
    except (OSError, ValueError):
        return {}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "agent", site="fra-1", backoff_base=0.1, backoff_max=0.4, healthy_after=0.2,
                        base_env={**os.environ, "FLEETYARD_TOKEN": "fy_secret"})
    yield rt
    rt.stop()


def workload(out: Path, model_dir: Path, replicas: int = 2, ref: str = "m:1", **kw: object) -> WorkloadRun:
    args: dict[str, object] = {"name": "chat", "model_ref": ref, "model_dir": model_dir, "replicas": replicas,
                               "command": (sys.executable, "-c", SCRIPT, str(out)), "env": (("APP_MODE", "eu"),)}
    args.update(kw)
    return WorkloadRun(**args)  # type: ignore[arg-type]


def test_replicas_get_model_dir_identity_and_env_but_not_the_token(runtime: ProcessRuntime, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runtime.apply([workload(out, tmp_path / "models" / "m" / "1")])
    wait_for(lambda: seen(out, "chat-0") and seen(out, "chat-1"))
    env0, env1 = seen(out, "chat-0"), seen(out, "chat-1")
    assert env0["FLEETYARD_MODEL_DIR"] == str(tmp_path / "models" / "m" / "1")
    assert env0["FLEETYARD_MODEL"] == "m:1" and env0["FLEETYARD_WORKLOAD"] == "chat"
    assert (env0["FLEETYARD_REPLICA"], env1["FLEETYARD_REPLICA"]) == ("0", "1")
    assert env0["APP_MODE"] == "eu" and env0["FLEETYARD_SITE"] == "fra-1"
    assert env0["FLEETYARD_PORT"] != env1["FLEETYARD_PORT"]
    assert "FLEETYARD_TOKEN" not in env0
    wait_for(lambda: runtime.status()["chat"].healthy == 2, runtime)
    st = runtime.status()["chat"]
    assert (st.desired, st.running, st.healthy, st.error) == (2, 2, 2, None)


def test_a_killed_replica_is_restarted(runtime: ProcessRuntime, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runtime.apply([workload(out, tmp_path / "m1")])
    wait_for(lambda: seen(out, "chat-0") and seen(out, "chat-1"))
    victim = int(seen(out, "chat-1")["pid"])  # type: ignore[call-overload]
    (out / "chat-1.json").unlink()
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: seen(out, "chat-1"), runtime)
    assert int(seen(out, "chat-1")["pid"]) != victim  # type: ignore[call-overload]
    assert runtime.status()["chat"].restarts == 1
    wait_for(lambda: runtime.status()["chat"].healthy == 2, runtime)


def test_scale_down_stops_extra_replicas_and_version_change_restarts(runtime: ProcessRuntime, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runtime.apply([workload(out, tmp_path / "m1", replicas=3)])
    wait_for(lambda: all(seen(out, f"chat-{i}") for i in range(3)))
    third = int(seen(out, "chat-2")["pid"])  # type: ignore[call-overload]
    runtime.apply([workload(out, tmp_path / "m1", replicas=2)])
    assert runtime.status()["chat"].running == 2
    wait_for(lambda: not os.path.exists(f"/proc/{third}") or _zombie(third))
    # a new model version: every replica is restarted on it, one at a time
    for i in range(2):
        (out / f"chat-{i}.json").unlink()
    runtime.apply([workload(out, tmp_path / "m2", replicas=2, ref="m:2")])
    wait_for(lambda: all(seen(out, f"chat-{i}").get("FLEETYARD_MODEL") == "m:2" for i in range(2)), runtime)
    wait_for(lambda: runtime.status()["chat"].healthy == 2, runtime)
    assert runtime.status()["chat"].model_ref == "m:2"
    runtime.apply([])
    assert runtime.status() == {}


def _zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_crash_loop_backs_off_and_reports_why(runtime: ProcessRuntime, tmp_path: Path) -> None:
    crash = WorkloadRun("bad", "m:1", tmp_path, 1, (sys.executable, "-c", "raise SystemExit(3)"))
    runtime.apply([crash])
    wait_for(lambda: runtime.status()["bad"].restarts >= 3, runtime)
    st = runtime.status()["bad"]
    assert st.healthy == 0 and st.error is not None and "exited with code 3" in st.error
    missing = WorkloadRun("nope", "m:1", tmp_path, 1, ("/nonexistent/serve",))
    runtime.apply([missing])
    runtime.poll()
    err = runtime.status()["nope"].error
    assert err is not None and "could not start" in err
    runtime.apply([WorkloadRun("nocmd", "m:1", tmp_path, 2, None)])
    assert runtime.status()["nocmd"].error == "the workload has no command to run"


def test_replicas_left_by_a_killed_agent_are_stopped_at_restart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    first = ProcessRuntime(tmp_path / "agent", backoff_base=0.1)
    first.apply([workload(out, tmp_path / "m1", replicas=2)])
    wait_for(lambda: seen(out, "chat-0") and seen(out, "chat-1"))
    pids = [int(seen(out, f"chat-{i}")["pid"]) for i in range(2)]  # type: ignore[call-overload]
    # the agent dies without stopping anything; a new one starts on the same data dir
    second = ProcessRuntime(tmp_path / "agent", backoff_base=0.1)
    assert second.orphans_stopped == 2
    first.poll()  # reap them (they are this test process's children)
    assert all(_zombie(p) for p in pids)
    second.stop()
