"""The agent's feature flag listener: OFREP (the OpenFeature Remote Evaluation Protocol) at the site.

    POST /ofrep/v1/evaluate/flags/{key}   {"context": {...}} -> {key, value, reason, variant, metadata}
    POST /ofrep/v1/evaluate/flags         {"context": {...}} -> {"flags": [...]}, ETag; If-None-Match -> 304
    GET  /ofrep/v1/configuration          what this listener supports (polling, types)
    GET  /healthz

Any application with an OpenFeature SDK and its OFREP provider reads the site's flags
here (replicas find the URL in FLEETYARD_OFREP_URL). Evaluation is local
(`rollout.flags.evaluate_site` on the flags of the desired state, site facts already
decided by the server), so flags keep answering while the WAN link or the control
plane is down. `FlagBook` keeps the last flags received in `state/flags.json`
(written atomically: a temporary file, fsync, rename), so an agent restarted with the
server away serves them from its first second.

Errors follow OFREP: 404 FLAG_NOT_FOUND; 400 with PARSE_ERROR (a body that is not a
JSON object), INVALID_CONTEXT, TARGETING_KEY_MISSING, TYPE_MISMATCH or GENERAL. The
listener has no authentication: bind it to loopback or the site's private network.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.rollout.flags import Evaluation, lookup
from fleetyard.spec.flag import SiteFlag

__all__ = ["MAX_BODY", "FlagBook", "OfrepServer", "saved_flags"]

PREFIX = "/ofrep/v1/evaluate/flags"
MAX_BODY = 1 << 20  # bytes of one request: an evaluation context is a few hundred
_FLAGS = TypeAdapter(list[SiteFlag])


def saved_flags(path: Path) -> bool:
    """Whether a flags file from an earlier run is there (an agent may start without the server)."""
    return FlagBook(path).revision != ""


class FlagBook:
    """The flags this site serves, by key, and their revision; persisted on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._flags: dict[str, SiteFlag] = {}
        self.revision = ""
        self.received_at: str | None = None
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            flags = _FLAGS.validate_python(doc["flags"])
            revision, received = str(doc["revision"]), doc.get("received_at")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            print(f"fleetyard agent: ignoring {self.path}: not a flags file of this version ({exc})".splitlines()[0],
                  file=sys.stderr)
            return
        self._flags, self.revision = {f.key: f for f in flags}, revision
        self.received_at = received if isinstance(received, str) else None

    def update(self, flags: Sequence[SiteFlag], revision: str) -> bool:
        """Take the flags of a new desired state; True when they changed (and were written)."""
        with self._lock:
            if revision == self.revision:
                return False
            received = datetime.now(UTC).isoformat()
            doc = {"revision": revision, "received_at": received, "flags": [f.model_dump(mode="json") for f in flags]}
            try:
                self._write(json.dumps(doc, sort_keys=True).encode())
            except OSError as exc:  # served from memory all the same; a restart without the server has older ones
                print(f"fleetyard agent: cannot save the flags to {self.path}: {exc.strerror or exc}", file=sys.stderr)
            self._flags, self.revision, self.received_at = {f.key: f for f in flags}, revision, received
            return True

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def snapshot(self) -> tuple[dict[str, SiteFlag], str]:
        with self._lock:
            return self._flags, self.revision


def _status(e: Evaluation) -> int:
    if e.error is None:
        return 200
    return 404 if e.error.code == "FLAG_NOT_FOUND" else 400


def _body(key: str, e: Evaluation, revision: str) -> dict[str, Any]:
    if e.error is not None:
        return {"key": key, "errorCode": e.error.code, "errorDetails": e.error.detail}
    return {"key": key, "value": e.value, "reason": e.reason, "variant": e.variant,
            "metadata": {"flagsRevision": revision}}


class _Handler(BaseHTTPRequestHandler):
    server_ref: OfrepServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle's algorithm and the client's
        # delayed ACK a keep-alive client would wait ~40 ms for every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, doc: object | None, headers: Mapping[str, str] | None = None) -> None:
        body = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(status)
        if doc is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _context(self, key: str | None) -> dict[str, Any] | None:
        """The request's evaluation context, or None after answering 400/413."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(413 if length > MAX_BODY else 400, {"errorCode": "PARSE_ERROR", "errorDetails":
                       f"the body must be a JSON object of at most {MAX_BODY:,} bytes"} | ({"key": key} if key else {}))
            return None
        raw = self.rfile.read(length) if length else b""
        try:
            doc = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            self._bad(key, "PARSE_ERROR", f"the body is not JSON: {exc}")
            return None
        if not isinstance(doc, dict):
            self._bad(key, "PARSE_ERROR", "the body must be a JSON object such as {\"context\": {}}")
            return None
        context = doc.get("context", {})
        if context is None:
            context = {}
        if not isinstance(context, dict):
            self._bad(key, "INVALID_CONTEXT", "context must be a JSON object")
            return None
        return context

    def _bad(self, key: str | None, code: str, detail: str) -> None:
        self._send(400, {"errorCode": code, "errorDetails": detail} | ({"key": key} if key else {}))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == PREFIX:
            context = self._context(None)
            if context is not None:
                self._bulk(context)
        elif path.startswith(PREFIX + "/") and len(path) > len(PREFIX) + 1:
            key = unquote(path[len(PREFIX) + 1:])
            context = self._context(key)
            if context is not None:
                flags, revision = self.server_ref.book.snapshot()
                e = lookup(flags, key, context)
                self.server_ref.count(e)
                self._send(_status(e), _body(key, e, revision))
        else:
            self.close_connection = True
            self._send(404, {"errorDetails": f"no route POST {path}"})

    def _bulk(self, context: dict[str, Any]) -> None:
        flags, revision = self.server_ref.book.snapshot()
        etag = '"' + hashlib.sha256(json.dumps([revision, context], sort_keys=True, default=str)
                                    .encode()).hexdigest()[:20] + '"'
        if etag in [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]:
            self._send(304, None, {"ETag": etag})
            return
        out = []
        for key in sorted(flags):
            e = lookup(flags, key, context)
            self.server_ref.count(e)
            out.append(_body(key, e, revision))
        self._send(200, {"flags": out}, {"ETag": etag})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            _, revision = self.server_ref.book.snapshot()
            self._send(200, {"status": "ok", "flagsRevision": revision})
        elif path == "/ofrep/v1/configuration":
            self._send(200, {"name": "fleetyard", "capabilities": {
                "cacheInvalidation": {"polling": {"enabled": True, "minPollingIntervalMs": 1000}},
                "flagEvaluation": {"supportedTypes": ["boolean", "string", "int", "float", "object"]}}})
        else:
            self._send(404, {"errorDetails": f"no route GET {path}"})


class OfrepServer:
    """Serves a `FlagBook` over OFREP on HOST:PORT (port 0: any free one; see `url`)."""

    def __init__(self, book: FlagBook, host: str, port: int, metrics: AgentMetrics | None = None) -> None:
        self.book = book
        handler = type("OfrepHandler", (_Handler,), {"server_ref": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ofrep", daemon=True)
        self._evaluations = Counter("fleetyard_agent_flag_evaluations", "OFREP flag evaluations by reason.",
                                    ["reason"], registry=metrics.registry) if metrics is not None else None

    def count(self, e: Evaluation) -> None:
        if self._evaluations is not None:
            self._evaluations.labels(reason=e.reason).inc()

    @property
    def url(self) -> str:
        """Where applications at the site reach it (a wildcard address as loopback)."""
        host, port = self._server.server_address[:2]
        host = str(host)
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
