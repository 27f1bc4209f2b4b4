"""One site for rollout tests: a real agent process, told its desired state directly.

The server's rollout controller is another part of issue 10; these tests drive the
agent the way it will: a `DesiredState` with a `model`, `health`, `validate` and
`keep`, served over real HTTP on loopback by `DesiredStateServer` (the two agent
routes of API v1, plus registry objects through the agent's own `Relay` over a real
signed center registry). Replicas are a small real HTTP program (`REPLICA`) that
answers /healthz with the code in its model folder's app.json and exposes /metrics,
and records its life (started, first ready probe answered, stopped) in APP_OUT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.agent.relay import Relay, TokenCache
from fleetyard.registry import open_store, push
from fleetyard.services.wire import ChunkSource, DesiredModel, DesiredState, DesiredWorkload, SiteReport
from tests.replication.models import write_keys, write_model

__all__ = ["REPLICA", "DesiredStateServer", "Lives", "Site", "wait_until"]

# A replica: /healthz answers app.json's "healthz" code; /metrics exposes app.json's fixed
# request counts and latency; events (start, ready = first 2xx /healthz answered, stop) go
# to APP_OUT/<pid>.json, each written before the agent can see its effect.
REPLICA = r'''
import json, os, signal, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
cfg = json.load(open(os.path.join(os.environ["FLEETYARD_MODEL_DIR"], "app.json")))
out = os.path.join(os.environ["APP_OUT"], f"{os.getpid()}.json")
life = {"pid": os.getpid(), "model": os.environ["FLEETYARD_MODEL"], "replica": int(os.environ["FLEETYARD_REPLICA"]),
        "port": int(os.environ["FLEETYARD_PORT"]), "started": time.time(), "ready": None, "stopped": None,
        "probes": 0}
def save():
    open(out + ".tmp", "w").write(json.dumps(life)); os.replace(out + ".tmp", out)
save()
def stop(*_):
    life["stopped"] = time.time(); save(); os._exit(0)
signal.signal(signal.SIGTERM, stop)
n, errors, latency = cfg.get("requests", 0), cfg.get("errors", 0), cfg.get("latency_s", 0.05)
buckets = [0.05, 0.1, 0.25, 0.5, 1.0]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/healthz":
            code = cfg["healthz"]
            life["probes"] += 1
            if 200 <= code < 300 and life["ready"] is None:
                life["ready"] = time.time()
            save()
            body = os.environ["FLEETYARD_MODEL"].encode()
        elif self.path == "/metrics":
            code = 200
            lines = ["# TYPE app_requests_total counter",
                     f'app_requests_total{{code="200"}} {n - errors}', f'app_requests_total{{code="500"}} {errors}',
                     "# TYPE app_request_duration_seconds histogram"]
            lines += [f'app_request_duration_seconds_bucket{{le="{b}"}} {n if latency <= b else 0}' for b in buckets]
            lines += [f'app_request_duration_seconds_bucket{{le="+Inf"}} {n}',
                      f"app_request_duration_seconds_sum {n * latency}", f"app_request_duration_seconds_count {n}"]
            body = ("\n".join(lines) + "\n").encode()
        else:
            code, body = 404, b"no"
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
HTTPServer(("127.0.0.1", int(os.environ["FLEETYARD_PORT"])), H).serve_forever()
'''


def wait_until(cond: Callable[[], Any], what: str, timeout: float = 90.0, every: float = 0.1) -> Any:
    """Poll `cond` until it returns something truthy (returned); AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class DesiredStateServer:
    """GET .../sites/{site}/desired and PUT .../sites/{site}/status over HTTP, from Python values."""

    def __init__(self) -> None:
        self.desired: DesiredState | None = None
        self.reports: list[SiteReport] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with owner.lock:
                    d = owner.desired
                if d is None or not self.path.endswith("/desired"):
                    self._send(404, b'{"detail": "no such route"}')
                    return
                self._send(200, d.model_dump_json(by_alias=True).encode())

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                report = SiteReport.model_validate_json(body)
                with owner.lock:
                    owner.reports.append(report)
                    del owner.reports[:-50]
                self._send(200, b"{}")

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def last(self) -> SiteReport | None:
        with self.lock:
            return self.reports[-1] if self.reports else None

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class Lives:
    """The replica processes' records in APP_OUT."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def all(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.folder.glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(out, key=lambda r: r["started"])

    def probes(self, model: str) -> int:
        """Probes answered by the replicas of `model` so far (a clock that runs with the agent)."""
        return sum(r.get("probes", 0) for r in self.all() if r["model"] == model)

    def alive(self, model: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.all() if r["stopped"] is None and _alive(r["pid"])
                and (model is None or r["model"] == model)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class Site:
    """A center registry (served by a Relay), a desired-state server and one agent process."""

    name = "par-1"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.key, self.pub = write_keys(root / "keys")
        self.center_dir = root / "center"
        self.center = open_store(self.center_dir, create=True)
        self.relay = Relay(self.center_dir, "127.0.0.1", 0, TokenCache(lambda _t: True), AgentMetrics())
        self.relay.start()
        self.control = DesiredStateServer()
        self.out = root / "out"
        self.out.mkdir()
        self.lives = Lives(self.out)
        self.replica = root / "replica.py"
        self.replica.write_text(REPLICA)
        self.data = root / "agent"
        self.log = root / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.revision = 0

    # ---- registry ---------------------------------------------------------------------------

    def push(self, version: str, *, healthz: int = 200, files: dict[str, str] | None = None, **app: Any) -> str:
        """Push m:<version> (a small model plus app.json and any `files`), signed."""
        folder = write_model(self.root / "src" / version, rows=8, tensors=2, edit=int(version) - 1)
        (folder / "app.json").write_text(json.dumps({"healthz": healthz, **app}))
        for name, text in (files or {}).items():
            (folder / name).write_text(text)
        parent = f"m:{int(version) - 1}" if int(version) > 1 else None
        push(self.center, folder, "m", version, key=self.key, parent=parent, workers=1)
        return f"m:{version}"

    # ---- desired state ----------------------------------------------------------------------

    def want(self, ref: str, *, replicas: int = 2, keep: list[str] | None = None, **rollout: Any) -> None:
        """Tell the agent to run workload `chat` on `ref` (rollout fields: health, validate, max_unavailable)."""
        name, version = ref.split(":", 1)
        self.revision += 1
        source = ChunkSource(kind="center", url=f"http://127.0.0.1:{self.relay.port}")
        w = DesiredWorkload.model_validate({
            "name": "chat", "model": ref, "replicas": replicas, "gpu_sku": "L4", "gpus_per_replica": 1,
            "command": [sys.executable, str(self.replica)], "env": {"APP_OUT": str(self.out)},
            "keep": keep or [], **rollout})
        d = DesiredState(site=self.name, revision=self.revision, generated_at=datetime.now(UTC),
                         models=[DesiredModel(ref=ref, name=name, version=version, requested=ref, sources=[source])],
                         workloads=[w])
        with self.control.lock:
            self.control.desired = d

    # ---- the agent ---------------------------------------------------------------------------

    def start_agent(self) -> None:
        """`fleetyard agent` for the site (its token in FLEETYARD_TOKEN, which nothing it starts may see)."""
        args = [sys.executable, "-m", "fleetyard", "agent", "--site", self.name, "--server", self.control.url,
                "--data-dir", str(self.data), "--trust-key", str(self.pub), "--heartbeat", "0.5",
                "--relay-wait", "0"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True,
                                         env={**os.environ, "FLEETYARD_TOKEN": "fy_agent_test"})

    def kill_agent(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)
        self.proc.wait(timeout=60)

    def health(self) -> dict[str, Any] | None:
        """The last reported health of workload `chat` (as JSON), checking the agent is alive."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the agent exited ({self.proc.returncode}); see {self.log}:\n"
                                 + self.log.read_text()[-3000:])
        r = self.control.last()
        if r is None or not r.workloads or r.workloads[0].health is None:
            return None
        return r.workloads[0].health.model_dump()

    def workload(self) -> dict[str, Any] | None:
        r = self.control.last()
        return r.workloads[0].model_dump() if r is not None and r.workloads else None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for r in self.lives.alive():  # replicas orphaned by a test that failed midway
            try:
                os.killpg(r["pid"], signal.SIGKILL)
            except OSError:
                pass
        self.control.close()
        self.relay.stop()


def site_fixture(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    try:
        yield s
    finally:
        s.close()
