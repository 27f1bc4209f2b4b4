"""The `validate` gate at a site: a command run on the site's hardware before a version serves.

`Validations.ensure(...)` starts `validate.command` once per (workload, version) in a
worker thread: cwd the new model folder, the environment a replica gets
(FLEETYARD_MODEL_DIR, FLEETYARD_MODEL, FLEETYARD_WORKLOAD, FLEETYARD_SITE and the
workload's env; never the agent's token) plus FLEETYARD_VALIDATE=1, its own process
group, output to `logs/validate-<workload>-<version>.log`. Exit 0 passes. A non-zero
exit fails with the code and the last lines of output; a command still running at
`timeout_s` is killed (SIGTERM to its group, SIGKILL after a grace) and fails
"validation: timed out after 300 s".

Results are kept in `state/validations.json` (written atomically), so a restarted
agent neither re-runs a passed validation nor forgets a failed one. A validation
the agent was running when it died is recorded with its pid; the next agent stops
that process if it is still there and runs the validation again.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from fleetyard.agent.runtime.process import HIDDEN_ENV, proc_start, signal_group
from fleetyard.services.wire import ValidationState
from fleetyard.spec.rollout import ValidateSpec

__all__ = ["Validation", "Validations"]

KILL_GRACE = 5.0
TAIL_LINES = 5
TAIL_CHARS = 500


@dataclass(frozen=True)
class Validation:
    """The validation of one workload version at this site."""

    workload: str
    model: str
    command: str  # a digest of the command: a changed command validates again
    state: ValidationState = "none"
    message: str | None = None
    pid: int | None = None  # while running: to stop it after an agent crash
    start: str = ""


def _digest(command: list[str]) -> str:
    return hashlib.sha256(json.dumps(command).encode()).hexdigest()[:16]


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - 8192, 0))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)  # no NUL or escapes in a report
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()][-TAIL_LINES:]
    return " | ".join(lines)[-TAIL_CHARS:]


class Validations:
    """Runs and remembers validations (see the module docstring)."""

    def __init__(self, state_file: Path, logs: Path, *, site: str = "", base_env: Mapping[str, str] | None = None,
                 kill_grace: float = KILL_GRACE) -> None:
        self.path, self.logs, self.site, self.kill_grace = state_file, logs, site, kill_grace
        self._base_env = {k: v for k, v in (base_env if base_env is not None else os.environ).items()
                          if k not in HIDDEN_ENV}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._results: dict[str, Validation] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.orphans_stopped = self._load()

    @staticmethod
    def _key(workload: str, model: str) -> str:
        return f"{workload}|{model}"

    def get(self, workload: str, model: str, spec: ValidateSpec | None = None) -> Validation:
        """The validation as it stands ("none" if never started, or the command changed)."""
        with self._lock:
            v = self._results.get(self._key(workload, model))
        if v is None or (spec is not None and v.command != _digest(spec.command)):
            return Validation(workload, model, _digest(spec.command) if spec else "")
        return v

    def ensure(self, workload: str, model: str, spec: ValidateSpec, model_dir: Path,
               env: Mapping[str, str]) -> Validation:
        """The validation's state; starts it if it has not run for this version (and command)."""
        v = self.get(workload, model, spec)
        if v.state != "none" or self._stop.is_set():
            return v
        key = self._key(workload, model)
        with self._lock:
            if key in self._threads and self._threads[key].is_alive():
                return self._results.get(key, v)
            running = Validation(workload, model, v.command, "running", "validation: running")
            self._results[key] = running
            t = self._threads[key] = threading.Thread(target=self._run, args=(running, spec, model_dir, dict(env)),
                                                      name=f"validate-{workload}", daemon=True)
        t.start()
        return running

    def stop(self) -> None:
        """Agent shutdown: kill running validations (they run again at the next start)."""
        self._stop.set()
        for t in list(self._threads.values()):
            t.join(self.kill_grace + 5.0)

    # ---- the worker ------------------------------------------------------------------------------

    def _run(self, v: Validation, spec: ValidateSpec, model_dir: Path, env: dict[str, str]) -> None:
        version = v.model.split(":", 1)[-1]
        log_path = self.logs / f"validate-{v.workload}-{version}.log"
        full_env = {**self._base_env, **env, "FLEETYARD_MODEL_DIR": str(model_dir), "FLEETYARD_MODEL": v.model,
                    "FLEETYARD_WORKLOAD": v.workload, "FLEETYARD_SITE": self.site, "FLEETYARD_VALIDATE": "1"}
        try:
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(list(spec.command), cwd=model_dir, env=full_env, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            self._finish(v, "failed", f"validation: could not start {spec.command[0]}: {exc.strerror or exc}")
            return
        self._set(Validation(v.workload, v.model, v.command, "running", "validation: running", proc.pid,
                             proc_start(proc.pid)))
        deadline = time.monotonic() + spec.timeout_s
        while proc.poll() is None and time.monotonic() < deadline and not self._stop.is_set():
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            self._kill(proc)
            if self._stop.is_set():
                with self._lock:  # not a verdict: it runs again at the next start
                    self._results.pop(self._key(v.workload, v.model), None)
                    self._save_locked()
                return
            self._finish(v, "failed", f"validation: timed out after {spec.timeout_s:g} s")
            return
        code = proc.returncode
        if code == 0:
            self._finish(v, "passed", "validation: passed")
            return
        how = f"exited with code {code}" if code > 0 else f"killed by signal {-code}"
        tail = _tail(log_path)
        self._finish(v, "failed", f"validation: {how}" + (f": {tail}" if tail else ""))

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        signal_group(proc.pid, signal.SIGKILL)  # whatever it left in its group

    def _finish(self, v: Validation, state: ValidationState, message: str) -> None:
        self._set(Validation(v.workload, v.model, v.command, state, message))

    def _set(self, v: Validation) -> None:
        with self._lock:
            self._results[self._key(v.workload, v.model)] = v
            self._save_locked()

    # ---- the file -------------------------------------------------------------------------------

    def _save_locked(self) -> None:
        rows = [asdict(v) for v in self._results.values() if v.state != "running" or v.pid is not None]
        tmp = self.path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(rows, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _load(self) -> int:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        stopped = 0
        for row in rows if isinstance(rows, list) else []:
            try:
                v = Validation(**row)
            except TypeError:
                continue
            if v.state == "running":  # the agent died while it ran: stop it, run it again
                if v.pid is not None and v.start and proc_start(v.pid) == v.start:
                    signal_group(v.pid, signal.SIGKILL)
                    stopped += 1
                continue
            self._results[self._key(v.workload, v.model)] = v
        with self._lock:
            self._save_locked()
        return stopped
