"""The `process` runtime: each replica is a local process running the workload's command.

Every replica gets the workload's `env` and `secret_env` (values from Secrets) plus
FLEETYARD_MODEL_DIR (the verified model folder), FLEETYARD_MODEL (name:version),
FLEETYARD_WORKLOAD, FLEETYARD_REPLICA (0, 1, ...), FLEETYARD_SITE and FLEETYARD_PORT (a
free loopback port, kept across restarts); the agent's own token is never passed on.
Output goes to `logs/<workload>-<n>.log`.

A replica that dies is restarted after a backoff that doubles from 1 s up to 30 s and
resets once it has run for 30 s. A replica is *healthy* (ready) once it has been up
for a second and, when its run has a `probe`, the agent's prober last saw it pass
(`ready` callback). Extra replicas are stopped (SIGTERM to its process group,
SIGKILL after 5 s).

A new model version or command is a switch, replica by replica, without a gap: the
successor of replica N starts beside it on a new port (at most `max_unavailable` of
a workload at once) and the old one is stopped only when the successor is ready. A
successor that never gets ready leaves the old replica serving (it is restarted
with backoff meanwhile). An old replica that is not ready itself serves nothing and
is replaced in place. If the run goes back to the old version mid-switch, the old
replicas - still serving - are kept and their successors stopped at once. Replicas
left behind by an agent that was killed are found through `run/replicas.json` and
stopped when the agent starts again.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetyard.agent.runtime.base import Endpoint, ReplicaCounts, WorkloadRun

__all__ = ["ProcessRuntime", "Readiness", "proc_start", "signal_group"]

HIDDEN_ENV = ("FLEETYARD_TOKEN",)

Readiness = Callable[[str, int, float], "bool | None"]
"""(workload, port, started) -> the last probe verdict of that replica process (None: none yet)."""


def proc_start(pid: int) -> str:
    """A live process's start time (to tell it from a reused pid); "" if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return ""
    return fields[19]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fingerprint(run: WorkloadRun) -> str:
    doc = [list(run.command or ()), sorted(run.env), str(run.model_dir), run.model_ref]
    if run.secret_env:  # digests, not values: replicas.json never holds a value
        doc.append(run.secret_digest)
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


@dataclass
class _Replica:
    workload: str
    index: int
    run: WorkloadRun
    port: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restarts: int = 0
    next_start: float = 0.0
    last_exit: str | None = None

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.run)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class ProcessRuntime:
    """Workload replicas as supervised local processes."""

    name = "process"

    def __init__(
        self,
        data_dir: Path,
        *,
        site: str = "",
        base_env: Mapping[str, str] | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        healthy_after: float = 1.0,
        stable_after: float = 30.0,
        stop_timeout: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        ready: Readiness | None = None,
    ) -> None:
        self.site = site
        self.logs = data_dir / "logs"
        self.run_dir = data_dir / "run"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._base_env = {k: v for k, v in (base_env if base_env is not None else os.environ).items()
                          if k not in HIDDEN_ENV}
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.healthy_after, self.stable_after, self.stop_timeout = healthy_after, stable_after, stop_timeout
        self._now = monotonic
        self._probe_ready = ready
        self._runs: dict[str, WorkloadRun] = {}
        self._replicas: dict[tuple[str, int], _Replica] = {}
        self._outgoing: dict[tuple[str, int], _Replica] = {}  # old replicas serving while their successor starts
        self._ports: dict[tuple[str, int], int] = {}
        self.orphans_stopped = self._stop_orphans()

    # ---- the Runtime protocol --------------------------------------------------------

    def apply(self, runs: Sequence[WorkloadRun]) -> None:
        self._runs = {r.name: r for r in runs}

        def unwanted(key: tuple[str, int]) -> bool:
            run = self._runs.get(key[0])
            return run is None or key[1] >= run.replicas or run.command is None

        gone = [k for k in self._replicas if unwanted(k)]
        gone_out = [k for k in self._outgoing if unwanted(k)]
        self._stop_many([self._replicas[k] for k in gone] + [self._outgoing[k] for k in gone_out])
        for k in gone:
            del self._replicas[k]
        for k in gone_out:
            del self._outgoing[k]
        for run in runs:
            if run.command is None:
                continue
            want = _fingerprint(run)
            for i in range(run.replicas):
                rep = self._replicas.get((run.name, i))
                if rep is None:
                    port = self._ports.setdefault((run.name, i), _free_port())
                    rep = self._replicas[(run.name, i)] = _Replica(run.name, i, run, port)
                    self._start(rep)
                elif rep.fingerprint == want:
                    rep.run = run  # same process, new probe or switching limit
        self._rollout()
        self._save()

    def poll(self) -> None:
        now = self._now()
        changed = False
        for rep in [*self._replicas.values(), *self._outgoing.values()]:
            if rep.proc is not None and rep.proc.poll() is not None:
                code = rep.proc.returncode
                rep.last_exit = f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
                rep.proc = None
                if now - rep.started >= self.stable_after:
                    rep.failures = 0
                rep.failures += 1
                rep.next_start = now + min(self.backoff_base * 2 ** (rep.failures - 1), self.backoff_max)
            if rep.proc is None and now >= rep.next_start:
                rep.restarts += 1
                self._start(rep)
                changed = True
        self._rollout()
        if changed:
            self._save()

    def status(self) -> dict[str, ReplicaCounts]:
        now = self._now()
        out = {}
        for name, run in self._runs.items():
            if run.command is None:
                out[name] = ReplicaCounts(run.replicas, 0, 0, error="the workload has no command to run",
                                          model_ref=run.model_ref)
                continue
            want = _fingerprint(run)
            reps = [r for (w, _), r in self._replicas.items() if w == name]
            outs = [r for (w, _), r in self._outgoing.items() if w == name]
            alive = [r for r in reps + outs if r.alive()]
            serving = sum(1 for r in reps if self._ready(r, now) or (
                (name, r.index) in self._outgoing and self._ready(self._outgoing[(name, r.index)], now)))
            on_model = [r for r in reps if r.fingerprint == want and r.alive()]
            error = None
            for r in reps:
                if r.last_exit and not r.alive():
                    error = f"replica {r.index} {r.last_exit}; restarting in {max(r.next_start - now, 0):.0f} s"
                    break
                if r.last_exit and now - r.started < self.stable_after:
                    error = f"replica {r.index} {r.last_exit}; restarted {r.restarts} time(s)"
                    break
            out[name] = ReplicaCounts(run.replicas, len(alive), serving, sum(r.restarts for r in reps + outs),
                                      error, run.model_ref, {str(r.index): str(r.port) for r in reps},
                                      model_running=len(on_model),
                                      model_ready=sum(1 for r in on_model if self._ready(r, now)),
                                      switching=len(outs))
        return out

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(r.workload, r.index, r.port, r.run.model_ref, r.started, r.run.probe)
                for r in [*self._replicas.values(), *self._outgoing.values()] if r.alive()]

    def stop(self) -> None:
        self._stop_many([*self._replicas.values(), *self._outgoing.values()])
        self._replicas.clear()
        self._outgoing.clear()
        self._runs = {}
        self._save()

    # ---- processes --------------------------------------------------------------------

    def _start(self, rep: _Replica) -> None:
        run = rep.run
        assert run.command is not None
        env = {**self._base_env, **run.env_dict, **dict(run.secret_env),
               "FLEETYARD_MODEL_DIR": str(run.model_dir), "FLEETYARD_MODEL": run.model_ref,
               "FLEETYARD_WORKLOAD": run.name, "FLEETYARD_REPLICA": str(rep.index),
               "FLEETYARD_SITE": self.site, "FLEETYARD_PORT": str(rep.port)}
        rep.started = self._now()
        try:
            with open(self.logs / f"{run.name}-{rep.index}.log", "ab") as log:
                rep.proc = subprocess.Popen(list(run.command), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.run_dir, start_new_session=True)
        except OSError as exc:
            rep.proc = None
            rep.last_exit = f"could not start ({exc.strerror or exc}: {run.command[0]})"
            rep.failures += 1
            rep.next_start = rep.started + min(self.backoff_base * 2 ** (rep.failures - 1), self.backoff_max)

    def _ready(self, rep: _Replica, now: float) -> bool:
        """Up for `healthy_after` and, with a probe, passing it."""
        if not rep.alive() or now - rep.started < self.healthy_after:
            return False
        if rep.run.probe is None or self._probe_ready is None:
            return True
        return self._probe_ready(rep.workload, rep.port, rep.started) is True

    def _rollout(self) -> None:
        """Switch replicas started with an older model or command (see the module docstring)."""
        now = self._now()
        changed = False
        for name, run in self._runs.items():
            if run.command is None:
                continue
            want = _fingerprint(run)
            for key in [k for k in self._outgoing if k[0] == name]:
                old, new = self._outgoing[key], self._replicas[key]
                if new.fingerprint != want:  # back to the old version, or on to a third one
                    self._stop_many([new])
                    self._replicas[key], self._ports[key] = old, old.port
                    del self._outgoing[key]
                    changed = True
                elif self._ready(new, now):
                    self._stop_many([old])
                    del self._outgoing[key]
                    changed = True
            switching = sum(1 for k in self._outgoing if k[0] == name)
            stale = sorted((r for (w, i), r in self._replicas.items()
                            if w == name and r.fingerprint != want and (w, i) not in self._outgoing),
                           key=lambda r: r.index)
            for rep in stale:
                if switching >= max(run.max_unavailable, 1):
                    break
                key = (name, rep.index)
                if self._ready(rep, now):  # it serves: its successor starts beside it
                    self._outgoing[key] = rep
                    port = self._ports[key] = _free_port()
                    succ = self._replicas[key] = _Replica(name, rep.index, run, port)
                    self._start(succ)
                else:  # it serves nothing: replace it where it is
                    self._stop_many([rep])
                    rep.run, rep.failures, rep.last_exit, rep.next_start = run, 0, None, 0.0
                    self._start(rep)
                switching += 1
                changed = True
        if changed:
            self._save()

    def _stop_many(self, reps: Sequence[_Replica]) -> None:
        procs = [r.proc for r in reps if r.proc is not None and r.proc.poll() is None]
        for p in procs:
            signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                signal_group(p.pid, signal.SIGKILL)
                p.wait()
        for r in reps:
            r.proc = None

    # ---- replicas of a previous agent ------------------------------------------------------

    def _save(self) -> None:
        rows = [{"workload": r.workload, "index": r.index, "pid": r.proc.pid, "start": proc_start(r.proc.pid)}
                for r in [*self._replicas.values(), *self._outgoing.values()]
                if r.proc is not None and r.proc.poll() is None]
        tmp = self.run_dir / "replicas.json.tmp"
        tmp.write_text(json.dumps(rows), encoding="utf-8")
        os.replace(tmp, self.run_dir / "replicas.json")

    def _stop_orphans(self) -> int:
        """Stop replicas a killed agent left running (matched by pid and start time)."""
        try:
            rows = json.loads((self.run_dir / "replicas.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        pids = [int(r["pid"]) for r in rows if r.get("start") and proc_start(int(r["pid"])) == r["start"]]
        for pid in pids:
            signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for pid in pids:
            while proc_start(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc_start(pid):
                signal_group(pid, signal.SIGKILL)
        (self.run_dir / "replicas.json").unlink(missing_ok=True)
        return len(pids)


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
