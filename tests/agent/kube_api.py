"""A loopback stand-in for the Kubernetes API server, for the runtime's tests.

No kube-apiserver can be installed on this machine (Debian ships only kubectl; the only
network is the package registries), so this speaks, over real HTTP, the subset the
`kubernetes` runtime uses through the official client: server-side apply (PATCH
`application/apply-patch+yaml` with `fieldManager`) of Deployments and Services, list with
`labelSelector`, `watch=true` streams from a resourceVersion, DELETE. Every applied object
is validated with kubernetes-validate against Kubernetes 1.30, and an invalid one is
refused with a 422 Status whose message names the problem, as the real API server does.
Tests change a Deployment's `status` with `set_status` (what the controller would do).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate

K8S = "1.30"
ROUTES = {"deployments": ("apps/v1", "Deployment"), "services": ("v1", "Service"), "secrets": ("v1", "Secret")}


def _matches(obj: dict[str, Any], selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class KubeApiServer:
    """Objects by (plural, namespace, name); events for watchers; counts of what was asked."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.version = 0
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.applies: list[tuple[str, str, str]] = []  # (plural, name, fieldManager)
        self.cond = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> tuple[str, str, str | None, dict[str, list[str]]] | None:
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                # /apis/apps/v1/namespaces/NS/deployments[/NAME] or /api/v1/namespaces/NS/services[/NAME]
                rest = parts[3:] if parts[:1] == ["apis"] else parts[2:]
                if len(rest) < 3 or rest[0] != "namespaces" or rest[2] not in ROUTES:
                    return None
                return rest[2], rest[1], rest[3] if len(rest) > 3 else None, parse_qs(url.query)

            def do_PATCH(self) -> None:
                route = self._route()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                if route is None or route[2] is None:
                    self._send(404, {"kind": "Status", "message": "not found", "code": 404})
                    return
                if self.headers.get("Content-Type") != "application/apply-patch+yaml":
                    self._send(415, {"kind": "Status", "message": "only server-side apply here", "code": 415})
                    return
                plural, ns, name, query = route
                code, answer = owner.apply(plural, ns, name, body, query.get("fieldManager", [""])[0])
                self._send(code, answer)

            def do_DELETE(self) -> None:
                route = self._route()
                if route is None or route[2] is None:
                    self._send(404, {"kind": "Status", "message": "not found", "code": 404})
                    return
                plural, ns, name, _ = route
                with owner.cond:
                    obj = owner.objects.pop((plural, ns, name), None)
                    if obj is not None:
                        owner._event(plural, "DELETED", obj)
                if obj is None:
                    self._send(404, {"kind": "Status", "message": f'{plural} "{name}" not found', "code": 404})
                else:
                    self._send(200, {"kind": "Status", "status": "Success"})

            def do_GET(self) -> None:
                route = self._route()
                if route is None or route[2] is not None:
                    self._send(404, {"kind": "Status", "message": "not found", "code": 404})
                    return
                plural, ns, _, query = route
                selector = query.get("labelSelector", [""])[0]
                if query.get("watch", [""])[0] == "true":
                    self._watch(plural, ns, selector, int(query.get("resourceVersion", ["0"])[0] or 0),
                                min(float(query.get("timeoutSeconds", ["5"])[0]), 30.0))
                    return
                with owner.cond:
                    items = [o for (p, n, _), o in sorted(owner.objects.items()) if p == plural and n == ns
                             and _matches(o, selector)]
                    version = owner.version
                self._send(200, {"kind": "List", "metadata": {"resourceVersion": str(version)}, "items": items})

            def _watch(self, plural: str, ns: str, selector: str, since: int, seconds: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = since
                waited = 0.0
                try:
                    while waited < seconds:  # bounded: the client asked for at most `seconds`
                        with owner.cond:
                            fresh = [e for e in owner.events if e[0] > sent]
                            if not fresh:
                                owner.cond.wait(0.2)
                                waited += 0.2
                                continue
                        for rv, p, kind, obj in fresh:
                            sent = rv
                            if p == plural and (obj.get("metadata") or {}).get("namespace") == ns \
                                    and _matches(obj, selector):
                                line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                                self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def _event(self, plural: str, kind: str, obj: dict[str, Any]) -> None:
        self.version += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.version)
        self.events.append((self.version, plural, kind, json.loads(json.dumps(obj))))
        self.cond.notify_all()

    def apply(self, plural: str, ns: str, name: str, body: dict[str, Any], manager: str) -> tuple[int, dict[str, Any]]:
        api_version, kind = ROUTES[plural]
        problems = []
        if body.get("apiVersion") != api_version or body.get("kind") != kind:
            problems.append(f"expected {api_version} {kind}")
        if (body.get("metadata") or {}).get("name") != name:
            problems.append("metadata.name: must match the URL")
        if not manager:
            problems.append("fieldManager is required for apply requests")
        try:
            kubernetes_validate.validate(body, K8S, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{kind}.{path or 'object'}: Invalid value: {exc.message}")
        if problems:
            return 422, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
                         "message": f'{kind} "{name}" is invalid: ' + "; ".join(problems)}
        with self.cond:
            self.applies.append((plural, name, manager))
            old = self.objects.get((plural, ns, name))
            stored = json.loads(json.dumps(body))
            stored["metadata"]["namespace"] = ns
            if old is not None and "status" in old:
                stored["status"] = old["status"]
            self.objects[(plural, ns, name)] = stored
            self._event(plural, "MODIFIED" if old else "ADDED", stored)
            return 200, stored

    def set_status(self, name: str, ns: str = "default", **status: int) -> None:
        """What the Deployment controller would report: replicas, readyReplicas, updatedReplicas."""
        with self.cond:
            obj = self.objects[("deployments", ns, name)]
            obj["status"] = dict(status)
            self._event("deployments", "MODIFIED", obj)

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test-token"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "default"}}],
        }))
        return path

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
