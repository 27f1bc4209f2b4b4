"""The agent's HTTP listener: its chunks for peer sites (relay), `/metrics`, `/healthz`.

Peers read this site's local registry over the same object routes as the server's
(`GET|HEAD /api/v1/registry/objects/{key}` with `Range`, and
`GET /api/v1/registry/objects?prefix=P`), read-only, so the same `HttpBackend` and
the same sync code fetch from a peer or from the center. Only complete objects are
served (packs, pack indexes, recipes, versions, aliases, the store marker), never
staging files or leases.

Who may read: any bearer token the control plane accepts for reading registry
objects (agent tokens of every site, viewers and up). The relay asks the server
once - a HEAD of the store marker with that token - and caches the answer (accepted
for 5 minutes, refused for 10 seconds), so no second secret has to be distributed
and a revoked token stops working here within minutes. If the server cannot be
reached, tokens seen before keep working and new ones get 503. With a `kept` file the
tokens the server vouched for (their SHA-256 only) survive an agent restart, so an
agent restarted while the server is down still serves its peers and `/metrics` (fail
static, docs/failover.md); a token the server refuses is dropped from it. Peers never
have to trust a relay either: every chunk is checked against its BLAKE3 name.

`/metrics` has a cache of its own: the agent asks `GET /api/v1/whoami` with the token
and lets `scrape` tokens (Prometheus, docs/prometheus.md), readers and agent tokens in;
a scrape token reads no registry object.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.registry import layout
from fleetyard.registry.backends import LocalBackend, ObjectInfo

__all__ = ["OBJECTS", "Relay", "TokenCache", "TokenCheckUnavailable"]

OBJECTS = "/api/v1/registry/objects"
SERVED = ("packs/", "recipes/", "versions/", "aliases/", "keys/")  # keys/: data keys wrapped per site
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class TokenCheckUnavailable(Exception):
    """The server that vouches for tokens cannot be asked right now."""


class TokenCache:
    """Asks `check(token)` (True: accepted) at most once per TTL per token."""

    def __init__(self, check: Callable[[str], bool], *, ok_ttl: float = 300.0, bad_ttl: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic, kept: Path | None = None) -> None:
        self._check, self.ok_ttl, self.bad_ttl, self._now = check, ok_ttl, bad_ttl, monotonic
        self._seen: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()
        self.asked = 0
        self._kept_path = kept
        self._vouched: set[str] = set()  # digests the server accepted, kept across restarts
        if kept is not None:
            try:
                doc = json.loads(kept.read_text(encoding="utf-8"))
                self._vouched = {d for d in doc if isinstance(d, str)} if isinstance(doc, list) else set()
            except (OSError, ValueError):
                pass

    def _keep(self, key: str, ok: bool) -> None:
        if self._kept_path is None or (key in self._vouched) == ok:
            return
        with self._lock:
            (self._vouched.add if ok else self._vouched.discard)(key)
            doc = json.dumps(sorted(self._vouched))
        tmp = self._kept_path.with_name(f".{self._kept_path.name}.{threading.get_ident()}.tmp")
        try:
            self._kept_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(doc, encoding="utf-8")
            os.replace(tmp, self._kept_path)
        except OSError:
            pass

    def allowed(self, token: str) -> bool:
        """Whether the token may read; raises TokenCheckUnavailable if it cannot be told."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._now()
        with self._lock:
            hit = self._seen.get(key)
        if hit is not None and now < hit[1]:
            return hit[0]
        try:
            self.asked += 1
            ok = self._check(token)
        except TokenCheckUnavailable:
            if (hit is not None and hit[0]) or key in self._vouched:
                return True  # the server is away: keep serving peers it vouched for
            raise
        with self._lock:
            self._seen[key] = (ok, now + (self.ok_ttl if ok else self.bad_ttl))
        self._keep(key, ok)
        return ok


def _servable(key: str) -> bool:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        return False
    return key == layout.MARKER or key.startswith(SERVED)


class _Handler(BaseHTTPRequestHandler):
    relay: Relay
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"detail": detail}).encode(), headers=headers)

    def _authorized(self, cache: TokenCache | None = None) -> bool:
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            self._error(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
            return False
        try:
            ok = (cache or self.relay.tokens).allowed(token)
        except TokenCheckUnavailable as exc:
            self._error(503, f"cannot check the token with the control plane now: {exc}")
            return False
        if not ok:
            self._error(401, "token refused by the control plane", {"WWW-Authenticate": "Bearer"})
        return ok

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, b'{"status": "ok"}')
        elif url.path == "/metrics":
            if self._authorized(self.relay.scrapers):
                self._send(200, self.relay.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        elif url.path == OBJECTS:
            if self._authorized():
                prefix = parse_qs(url.query).get("prefix", [""])[0]
                self._list(prefix)
        elif url.path.startswith(OBJECTS + "/"):
            if self._authorized():
                self._object(unquote(url.path[len(OBJECTS) + 1 :]))
        else:
            self._error(404, f"no route {url.path}")

    def do_HEAD(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith(OBJECTS + "/"):
            if self._authorized():
                self._object(unquote(url.path[len(OBJECTS) + 1 :]))
        elif url.path == "/healthz":
            self._send(200, b'{"status": "ok"}')
        else:
            self._error(404, f"no route {url.path}")

    def _refuse_write(self) -> None:
        self.close_connection = True  # the body is not read: this connection cannot be reused
        self._error(405, "a relay is read-only", {"Allow": "GET, HEAD", "Connection": "close"})

    do_PUT = do_POST = do_DELETE = do_PATCH = _refuse_write

    def _list(self, prefix: str) -> None:
        rows = [{"key": o.key, "size": o.size, "mtime": o.mtime}
                for o in self.relay.backend_list(prefix) if _servable(o.key)]
        self._send(200, json.dumps(rows).encode())

    def _object(self, key: str) -> None:
        path = self.relay.root / key
        if not _servable(key) or not path.is_file():
            self._error(404, f"{key} not found")
            return
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            self._error(404, f"{key} not found")
            return
        try:
            size = os.fstat(fd).st_size
            start, end, status = 0, size - 1, 200
            m = _RANGE.match(self.headers.get("Range", "").strip())
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:
                    start = max(size - int(m.group(2)), 0)
                if start >= size or end < start:
                    self._error(416, f"range not satisfiable for {key} ({size} bytes)",
                                {"Content-Range": f"bytes */{size}"})
                    return
                status = 206
            length = end - start + 1 if size else 0
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            pos = start
            while pos <= end:
                block = os.pread(fd, min(1 << 20, end - pos + 1), pos)
                if not block:
                    break
                self.wfile.write(block)
                pos += len(block)
            self.relay.metrics.bytes_served.inc(pos - start)
        finally:
            os.close(fd)


class Relay:
    """Serves one agent's local registry to peers, plus its metrics, on HOST:PORT."""

    def __init__(self, root: Path, host: str, port: int, tokens: TokenCache, metrics: AgentMetrics,
                 *, scrapers: TokenCache | None = None) -> None:
        self.root = root
        self._backend = LocalBackend(root)
        self.tokens = tokens
        self.scrapers = scrapers if scrapers is not None else tokens  # who may read /metrics
        self.metrics = metrics
        handler = type("RelayHandler", (_Handler,), {"relay": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="relay", daemon=True)

    def backend_list(self, prefix: str) -> list[ObjectInfo]:
        """The store's objects under a prefix."""
        return list(self._backend.list(prefix))

    @property
    def port(self) -> int:
        """The port it listens on (useful with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
