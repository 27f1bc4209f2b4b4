"""A whole fleet on loopback: a real server and real agents as processes, in one folder.

`fleetyard demo`, the integration tests and the replication benchmark all drive the
same thing: `python -m fleetyard server` and `python -m fleetyard agent` processes on
127.0.0.1 ports, talking API v1. Every wait is bounded; `close()` stops everything
(SIGTERM, then SIGKILL after a grace period), also after an error.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from fleetyard.registry import PushResult, push
from fleetyard.registry.signing import new_key_pair
from fleetyard.services.client import ApiError, Client, read_spec_files
from fleetyard.services.http_backend import open_remote_store
from fleetyard.services.wire import ApplyResult, FleetStatus, SiteStatus

__all__ = ["AgentProcess", "FleetError", "LocalFleet", "free_port", "write_model", "write_safetensors"]


class FleetError(RuntimeError):
    """Something in the local fleet did not come up or did not converge in time."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray]) -> None:
    """Write tensors in the safetensors format (8-byte header size, JSON header, data)."""
    header: dict[str, object] = {"__metadata__": {"format": "np"}}
    offset = 0
    for name, t in tensors.items():
        dtype = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(t.dtype)]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for t in tensors.values():
            f.write(np.ascontiguousarray(t).tobytes())


def write_model(folder: Path, *, version: int = 1, tensors: int = 8, rows: int = 128, seed: int = 7) -> Path:
    """A small model folder (tensors x rows x 1024 float32, 512 KB each at 128 rows).

    Version N > 1 retrains the first N - 1 tensors: a realistic small update.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = {f"layers.{i}.weight": (rng.standard_normal((rows, 1024)) * 0.02).astype(np.float32)
            for i in range(tensors)}
    tuned = np.random.default_rng(seed + version)
    for i in range(min(version - 1, tensors)):
        data[f"layers.{i}.weight"] = (tuned.standard_normal((rows, 1024)) * 0.02).astype(np.float32)
    write_safetensors(folder / "model.safetensors", data)
    (folder / "config.json").write_text(json.dumps({"model_type": "demo", "layers": tensors, "version": version}))
    return folder


def _key_pair(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    private, public = new_key_pair()
    priv, pub = folder / "signing.pem", folder / "signing.pub"
    priv.write_bytes(private)
    pub.write_bytes(public)
    return priv, pub


@dataclass
class AgentProcess:
    """One running agent."""

    site: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    log: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class LocalFleet:
    """A server and agents on loopback under `root` (see the module docstring)."""

    def __init__(self, root: Path, *, heartbeat: float = 1.0, python: str = sys.executable) -> None:
        self.root, self.heartbeat, self.python = root, heartbeat, python
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.admin = ""
        self.agents: dict[str, AgentProcess] = {}
        self.tokens: dict[str, str] = {}
        self.signing_key, self.public_key = _key_pair(root / "keys")
        self.status_errors = 0
        self._client: Client | None = None
        self._server_env: dict[str, str] = {}
        self._server_db: str | None = None

    # ---- processes ------------------------------------------------------------------------

    def _spawn(self, args: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen([self.python, "-m", "fleetyard", *args], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                    start_new_session=True)

    def start_server(self, timeout: float = 60.0, *, env: Mapping[str, str] | None = None,
                     db: str | None = None) -> None:
        """Start `fleetyard server` and wait until it answers and its admin token exists
        (`env`: extra FLEETYARD_* settings; `db`: a database URL instead of the SQLite file).
        Called again after `stop_server`, it starts the same server on the same port."""
        if env is not None or not self.url:
            self._server_env, self._server_db = dict(env or {}), db
        port = int(self.url.rsplit(":", 1)[1]) if self.url else free_port()
        self.url = f"http://127.0.0.1:{port}"
        token_file = self.root / "admin.token"
        args = ["server", "--listen", f"127.0.0.1:{port}", "--data", str(self.root / "server"),
                "--admin-token-file", str(token_file), "--heartbeat-interval", str(self.heartbeat),
                "--plan-time-limit", "20"]
        if self._server_db:
            args += ["--db", self._server_db]
        self.server = self._spawn(args, self.logs / "server.log", self._server_env)
        deadline = time.monotonic() + timeout
        while True:
            if self.server.poll() is not None:
                raise FleetError(f"the server exited ({self.server.returncode}); see {self.logs / 'server.log'}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200 and token_file.exists():
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise FleetError(f"the server did not answer within {timeout:.0f} s")
            time.sleep(0.1)
        self.admin = token_file.read_text().strip()
        if self._client is None:
            self._client = Client(self.url, self.admin, timeout=60.0)

    def stop_server(self) -> None:
        """SIGTERM the server and wait for it (agents keep running: fail static)."""
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise FleetError("the server is not started")
        return self._client

    def agent_token(self, site: str) -> str:
        """An agent token bound to `site` (created once)."""
        if site not in self.tokens:
            self.tokens[site] = self.client.create_token("agent", site, description=f"agent {site}").token
        return self.tokens[site]

    def start_agent(self, site: str, *, max_mbps: float | None = None, relay: bool = True,
                    env: Mapping[str, str] | None = None, extra: Sequence[str] = ()) -> AgentProcess:
        """Start `fleetyard agent` for a site (with a relay on a free port unless `relay=False`)."""
        old = self.agents.get(site)
        data = old.data_dir if old else self.root / "sites" / site
        port = old.port if old else free_port()
        args = ["agent", "--site", site, "--server", self.url, "--token", self.agent_token(site),
                "--data-dir", str(data), "--trust-key", str(self.public_key), "--heartbeat", str(self.heartbeat)]
        if relay:
            args += ["--listen", f"127.0.0.1:{port}"]
        if max_mbps is not None:
            args += ["--max-mbps", str(max_mbps)]
        args += list(extra)
        log = self.logs / f"agent-{site}.log"
        a = AgentProcess(site, self._spawn(args, log, env), data, port, log, args, dict(env or {}))
        self.agents[site] = a
        return a

    def kill_agent(self, site: str, sig: int = signal.SIGKILL) -> None:
        """Signal an agent (SIGKILL: as if the machine lost power, its replicas orphaned)."""
        a = self.agents[site]
        try:
            os.kill(a.proc.pid, sig)
        except ProcessLookupError:
            pass
        a.proc.wait(timeout=30)

    def restart_agent(self, site: str) -> AgentProcess:
        """Start an agent again with the arguments and environment it had."""
        a = self.agents[site]
        with open(a.log, "ab") as out:
            proc = subprocess.Popen([self.python, "-m", "fleetyard", *a.args], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env={**os.environ, **a.env}, start_new_session=True)
        a.proc = proc
        return a

    # ---- API ------------------------------------------------------------------------------------

    def apply(self, *paths: Path) -> ApplyResult:
        files, problems = read_spec_files(paths)
        if problems:
            raise FleetError("; ".join(str(p) for p in problems))
        return self.client.apply(files)

    def push(self, folder: Path, name: str, version: str, *, alias: str | None = None, sign: bool = True,
             key: Path | None = None) -> PushResult:
        """Push a model folder to the server's registry (signed with the fleet's key)."""
        store = open_remote_store(self.url, self.admin)
        try:
            return push(store, folder, name, version, key=(key or self.signing_key) if sign else None,
                        alias=alias, workers=1)
        finally:
            store.backend.close()  # type: ignore[attr-defined]

    def status(self) -> FleetStatus:
        return self.client.status()

    def wait_for(self, cond: Callable[[FleetStatus], bool], what: str, timeout: float = 60.0) -> FleetStatus:
        """Poll the fleet status until `cond` holds; FleetError naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        self.status_errors = 0
        while True:
            try:
                st = self.status()
            except ApiError as exc:  # an overloaded server (500, timeout): ask again
                if exc.status not in (0, 500, 503) or time.monotonic() > deadline:
                    raise
                self.status_errors += 1
                time.sleep(0.5)
                continue
            if cond(st):
                return st
            for a in self.agents.values():
                if a.proc.poll() not in (None, -signal.SIGKILL, 0, -signal.SIGTERM):
                    raise FleetError(f"agent {a.site} exited ({a.proc.returncode}); see {a.log}")
            if time.monotonic() > deadline:
                raise FleetError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.2)

    def running(self, sites: Sequence[str], ref: str) -> Callable[[FleetStatus], bool]:
        """A condition: every site has `ref` active and all its replicas healthy on it."""
        def ok(st: FleetStatus) -> bool:
            by = {s.site: s for s in st.sites}
            return all(site in by and _runs(by[site], ref) for site in sites)
        return ok

    # ---- teardown ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every agent, then the server (SIGTERM, SIGKILL after 15 s)."""
        procs = [a.proc for a in self.agents.values()] + ([self.server] if self.server else [])
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> LocalFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _runs(s: SiteStatus, ref: str) -> bool:
    models = {m.ref: m.state for m in s.models}
    r = s.replicas
    return models.get(ref) == "active" and r.desired > 0 and r.healthy == r.desired and all(
        w.model == ref for w in s.workloads)
