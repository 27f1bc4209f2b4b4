"""The Kubernetes API as the runtime needs it, over the official `kubernetes` client.

* `apply(obj)`: server-side apply (PATCH `application/apply-patch+yaml`,
  `fieldManager=fleetyard`, `force=true`) of a Deployment or Service: the API server
  merges our fields and owns the rest, as `kubectl apply --server-side` does;
* `delete(kind, name)`: gone is fine (404 ignored);
* `list_deployments` / `watch_deployments`: list, then a watch from the list's
  resourceVersion, so replica counts arrive when they change instead of by polling.

Every call has a timeout. An API answer that is an error becomes `KubeError` with the API
server's own message (the `Status.message` of a 422 names the invalid field), an
unreachable API server `KubeError` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["KubeApi", "KubeError"]

PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "Secret": "/api/v1/namespaces/{namespace}/secrets/{name}",
}
FIELD_MANAGER = "fleetyard"


class KubeError(Exception):
    """The API server refused a request (its message), or could not be reached."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _message(exc: Exception) -> KubeError:
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        text = f"{exc.status} {exc.reason}"
        try:
            body = json.loads(exc.body or "{}")
            if isinstance(body, dict) and body.get("message"):
                text = f"{body['message']} ({exc.status})"
        except ValueError:
            pass
        return KubeError(text, int(exc.status or 0))
    return KubeError(f"cannot reach the Kubernetes API server: {type(exc).__name__}: {str(exc)[:200]}")


class KubeApi:
    """One API server, one namespace."""

    def __init__(self, *, kubeconfig: Path | None = None, in_cluster: bool = False, namespace: str = "default",
                 timeout: float = 10.0) -> None:
        from kubernetes import client, config

        cfg = client.Configuration()
        if in_cluster:
            config.load_incluster_config(client_configuration=cfg)
        else:
            config.load_kube_config(config_file=str(kubeconfig) if kubeconfig else None, client_configuration=cfg)
        cfg.retries = 0  # the runtime retries on its own schedule
        self.client = client.ApiClient(cfg)
        self.apps = client.AppsV1Api(self.client)
        self.namespace, self.timeout = namespace, timeout

    def _call(self, method: str, path: str, *, query: list[tuple[str, str]] | None = None,
              body: Any = None, content_type: str = "application/json") -> Any:
        try:
            resp = self.client.call_api(path, method, {}, query or [],
                                        {"Content-Type": content_type, "Accept": "application/json"},
                                        body=body, auth_settings=["BearerToken"], _return_http_data_only=True,
                                        _preload_content=False, _request_timeout=self.timeout)
        except Exception as exc:
            raise _message(exc) from None
        data = resp.data
        return json.loads(data) if data else None

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply; returns the object as the API server stored it."""
        path = PATHS[obj["kind"]].format(namespace=self.namespace, name=obj["metadata"]["name"])
        out = self._call("PATCH", path, query=[("fieldManager", FIELD_MANAGER), ("force", "true")], body=obj,
                         content_type="application/apply-patch+yaml")
        return out if isinstance(out, dict) else {}

    def delete(self, kind: str, name: str) -> None:
        try:
            self._call("DELETE", PATHS[kind].format(namespace=self.namespace, name=name))
        except KubeError as exc:
            if exc.status != 404:
                raise

    def list_deployments(self, selector: str) -> tuple[list[dict[str, Any]], str]:
        """The Deployments matching `selector`, and the list's resourceVersion (to watch from)."""
        out = self._call("GET", f"/apis/apps/v1/namespaces/{self.namespace}/deployments",
                         query=[("labelSelector", selector)])
        if not isinstance(out, dict):
            return [], ""
        return list(out.get("items") or []), str((out.get("metadata") or {}).get("resourceVersion") or "")

    def watch_deployments(self, selector: str, resource_version: str, seconds: int = 30,
                          ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, object) as they happen, for at most `seconds` (then the caller lists again)."""
        try:
            resp = self.client.call_api(
                f"/apis/apps/v1/namespaces/{self.namespace}/deployments", "GET", {},
                [("labelSelector", selector), ("watch", "true"), ("resourceVersion", resource_version),
                 ("timeoutSeconds", str(seconds)), ("allowWatchBookmarks", "true")],
                {"Accept": "application/json"}, auth_settings=["BearerToken"], _return_http_data_only=True,
                _preload_content=False, _request_timeout=(self.timeout, seconds + self.timeout))
        except Exception as exc:
            raise _message(exc) from None
        buf = b""
        try:
            for chunk in resp.stream(4096):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and isinstance(event.get("object"), dict):
                        yield str(event.get("type", "")), event["object"]
                if len(buf) > 1 << 22:  # a line over 4 MiB is not an event we can use
                    raise KubeError("the watch sent an event over 4 MiB")
        except KubeError:
            raise
        except Exception as exc:
            raise _message(exc) from None
        finally:
            resp.release_conn()

    def close(self) -> None:
        self.client.close()
