"""The `kubernetes` runtime: a Deployment and a Service per workload, through the API.

Objects come from `k8s_objects` (GPU resources and node selection by SKU, ports, probes,
the model volume, every FLEETYARD_* value; docs/kubernetes.md). With a kubeconfig (or
`--in-cluster`) they are server-side applied with the official `kubernetes` client
(`k8s_api`), removed workloads' objects deleted, and a watch of the site's Deployments
keeps the replica counts current; without one they are only rendered, to
`kubernetes/<workload>.yaml` under the data dir (a file per workload, the Deployment and
its Service), for GitOps or `kubectl apply -f`. A workload with `secret_env` also has a
Kubernetes Secret (docs/secrets.md): applied before its Deployment, or rendered to
`kubernetes/<workload>.secret.yaml` (mode 0600; keep it out of git), never into the
workload's own file.

The file on disk is the last manifest the API server accepted: a manifest the API server
refuses (a 422 names the field) leaves the previous Deployment running and its file in
place, and the workload reports the API server's message until a new desired state is
accepted. A new model version changes the pod template, so Kubernetes rolls the pods;
with a probe the rolling update keeps old pods until new ones are ready, as the process
runtime does. The agent stopping leaves Deployments running: Kubernetes supervises them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetyard.agent.runtime.base import Endpoint, ReplicaCounts, WorkloadRun
from fleetyard.agent.runtime.k8s_api import KubeApi, KubeError
from fleetyard.agent.runtime.k8s_objects import (
    DEFAULT_IMAGE,
    MANAGED_SELECTOR,
    render_deployment,
    render_secret,
    render_service,
    secret_name,
)
from fleetyard.export.manifests import dns_name, label_value, to_yaml

__all__ = ["DEFAULT_IMAGE", "KubernetesRuntime", "render_deployment", "render_service"]

WATCH_SECONDS = 30
MAX_BACKOFF_S = 30.0


def _counts(item: dict[str, Any]) -> tuple[int, int, int]:
    st = item.get("status") or {}
    return int(st.get("replicas") or 0), int(st.get("readyReplicas") or 0), int(st.get("updatedReplicas") or 0)


def _workload(item: dict[str, Any]) -> str:
    meta = item.get("metadata") or {}
    return str((meta.get("annotations") or {}).get("fleetyard.io/workload") or meta.get("name") or "")


class KubernetesRuntime:
    """Workloads as Deployments (rendered always; applied and watched when an API server is given)."""

    name = "kubernetes"

    def __init__(self, data_dir: Path, *, site: str, kubeconfig: Path | None = None, in_cluster: bool = False,
                 namespace: str = "default", image: str = DEFAULT_IMAGE, model_pvc: str | None = None,
                 api: KubeApi | None = None, watch_seconds: int = WATCH_SECONDS) -> None:
        self.dir = data_dir / "kubernetes"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir, self.site, self.namespace = data_dir, site, namespace
        self.image, self.model_pvc = image, model_pvc
        self._connect_error: str | None = None
        self._api = api
        if api is None and (kubeconfig is not None or in_cluster):
            try:
                self._api = KubeApi(kubeconfig=kubeconfig, in_cluster=in_cluster, namespace=namespace)
            except Exception as exc:
                self._connect_error = f"cannot use the kubeconfig: {str(exc)[:200]}"
        self.selector = f"{MANAGED_SELECTOR},fleetyard.io/site={label_value(site)}"
        self.watch_seconds = watch_seconds
        self._runs: dict[str, WorkloadRun] = {}
        self._errors: dict[str, str] = {}
        self._ready: dict[str, tuple[int, int, int]] = {}  # pods, ready pods, pods of the current template
        self._watch_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.watch_rounds = 0  # lists made by the watcher (tests wait on it)

    def _manifest(self, run: WorkloadRun) -> tuple[dict[str, Any], dict[str, Any], bytes]:
        dep = render_deployment(run, site=self.site, namespace=self.namespace, image=self.image,
                                data_dir=self.data_dir, model_pvc=self.model_pvc)
        svc = render_service(run, site=self.site, namespace=self.namespace)
        return dep, svc, to_yaml(dep) + b"---\n" + to_yaml(svc)

    def _write(self, path: Path, data: bytes, *, private: bool = False) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def apply(self, runs: Sequence[WorkloadRun]) -> None:
        wanted = {r.name: r for r in runs}
        for name in set(self._runs) - set(wanted):
            (self.dir / f"{name}.yaml").unlink(missing_ok=True)
            self._errors.pop(name, None)
            (self.dir / f"{name}.secret.yaml").unlink(missing_ok=True)
            if self._api is not None:
                gone = self._runs[name]
                for kind, obj in (("Deployment", dns_name(name)), ("Service", dns_name(name)),
                                  *((("Secret", secret_name(gone)),) if gone.secret_env else ())):
                    try:
                        self._api.delete(kind, obj)
                    except KubeError:
                        pass  # gone with the next apply round's list; the object has our labels
        for run in runs:
            path = self.dir / f"{run.name}.yaml"
            dep, svc, text = self._manifest(run)
            old = path.read_bytes() if path.exists() else None
            if old == text and run.name not in self._errors:
                continue
            secret = render_secret(run, site=self.site, namespace=self.namespace)
            if self._api is None:
                if secret is not None:
                    self._write(self.dir / f"{run.name}.secret.yaml", to_yaml(secret), private=True)
                self._write(path, text)
                continue
            try:
                if secret is not None:
                    self._api.apply(secret)
                self._api.apply(dep)
                self._api.apply(svc)
            except KubeError as exc:
                kept = "; the previous Deployment keeps running" if old is not None else ""
                self._errors[run.name] = f"the Kubernetes API refused {run.name}: {exc.message}{kept}"
                continue
            self._write(path, text)
            self._errors.pop(run.name, None)
        self._runs = wanted
        if self._api is not None and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_loop, name="k8s-watch", daemon=True)
            self._watcher.start()

    def _watch_loop(self) -> None:
        assert self._api is not None
        delay = 1.0
        while not self._stop.is_set():
            try:
                items, version = self._api.list_deployments(self.selector)
                with self._lock:
                    self._ready = {_workload(i): _counts(i) for i in items}
                    self._watch_error = None
                    self.watch_rounds += 1
                delay = 1.0
                for kind, obj in self._api.watch_deployments(self.selector, version, self.watch_seconds):
                    if self._stop.is_set():
                        return
                    if kind == "BOOKMARK":
                        continue
                    with self._lock:
                        if kind == "DELETED":
                            self._ready.pop(_workload(obj), None)
                        elif kind in ("ADDED", "MODIFIED"):
                            self._ready[_workload(obj)] = _counts(obj)
            except KubeError as exc:
                with self._lock:
                    self._watch_error = exc.message
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)

    def poll(self) -> None:
        """Nothing to do: the watch thread keeps the counts and Kubernetes supervises the pods."""

    def status(self) -> dict[str, ReplicaCounts]:
        out = {}
        with self._lock:
            ready, watch_error = dict(self._ready), self._watch_error
        for name, run in self._runs.items():
            running, healthy, updated = ready.get(name, (0, 0, 0))
            error = self._errors.get(name)
            if self._api is None:
                error = self._connect_error or (f"rendered to {self.dir / (name + '.yaml')}; "
                                                "not applied (no --kubeconfig)")
            elif error is None and watch_error is not None:
                error = f"cannot watch Deployments: {watch_error}"
            old = max(running - updated, 0)  # pods of the template before; ready, with maxUnavailable 0
            out[name] = ReplicaCounts(run.replicas, running, healthy, 0, error, run.model_ref,
                                      model_running=updated, model_ready=max(0, min(updated, healthy - old)),
                                      switching=old)
        return out

    def endpoints(self) -> list[Endpoint]:
        """None: the kubelet probes the pods (readinessProbe)."""
        return []

    def stop(self) -> None:
        """Deployments stay: Kubernetes keeps running them without the agent."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self._api is not None:
            self._api.close()
        self._runs = {}
