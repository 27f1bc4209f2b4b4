"""The `kubernetes` runtime: one Deployment per workload, applied with kubectl.

Each workload is rendered as an `apps/v1` Deployment (`kubernetes/<workload>.yaml`
under the data dir): its command, env and replica count; `nvidia.com/gpu` limits of
`gpus_per_replica`; the verified model folder mounted read-only at
`/models/<model name>` from the node (hostPath - the agent runs on the node or the
data dir is shared storage) with FLEETYARD_MODEL_DIR pointing there. The image comes
from the workload's env `FLEETYARD_IMAGE` (taken out of the container's env), else
the agent's `--image`. A new model version changes the pod template, so Kubernetes
rolls the pods. With `--kubeconfig`, changed manifests are applied with
`kubectl apply -f` and removed workloads deleted; without it they are only rendered.
A rollout's `health.probe` becomes the container's readinessProbe (HTTP GET on the
port 8000, given as FLEETYARD_PORT) and `max_unavailable` the Deployment's rolling update
(`maxSurge` as many, `maxUnavailable: 0`): Kubernetes keeps old pods until new ones
are ready, as the process runtime does. Validation and metrics gates are not run
against pods (the agent has no route to them).
The agent stopping leaves Deployments running: Kubernetes supervises them.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from fleetyard.agent.runtime.base import Endpoint, ReplicaCounts, WorkloadRun

__all__ = ["DEFAULT_IMAGE", "KubernetesRuntime", "render_deployment"]

DEFAULT_IMAGE = "python:3.11-slim"
MODEL_MOUNT = "/models"
MANAGED = {"app.kubernetes.io/managed-by": "fleetyard"}
POD_PORT = 8000  # FLEETYARD_PORT in the pod


def _label(value: str) -> str:
    """A valid Kubernetes label value (63 chars of [A-Za-z0-9-_.], alphanumeric ends)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63]
    return cleaned.strip("-_.") or "x"


def render_deployment(run: WorkloadRun, *, site: str, namespace: str = "default",
                      image: str = DEFAULT_IMAGE) -> dict[str, Any]:
    """The Deployment that runs `run` (a plain dict, ready for YAML)."""
    model_name = run.model_ref.split(":", 1)[0]
    env = run.env_dict
    image = env.pop("FLEETYARD_IMAGE", image)
    mount = f"{MODEL_MOUNT}/{model_name}"
    selector = {"app.kubernetes.io/name": run.name, "fleetyard.io/site": _label(site)}
    labels = {**selector, **MANAGED, "fleetyard.io/model": _label(model_name),
              "fleetyard.io/model-version": _label(run.model_ref.split(":", 1)[-1])}
    container: dict[str, Any] = {
        "name": _label(run.name.lower())[:63],
        "image": image,
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())] + [
            {"name": "FLEETYARD_MODEL_DIR", "value": mount},
            {"name": "FLEETYARD_MODEL", "value": run.model_ref},
            {"name": "FLEETYARD_WORKLOAD", "value": run.name},
            {"name": "FLEETYARD_SITE", "value": site},
            {"name": "FLEETYARD_REPLICA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "volumeMounts": [{"name": "model", "mountPath": mount, "readOnly": True}],
    }
    if run.command:
        container["command"] = list(run.command)
    if run.probe is not None:
        container["env"].append({"name": "FLEETYARD_PORT", "value": str(POD_PORT)})
        container["readinessProbe"] = {
            "httpGet": {"path": run.probe.http, "port": POD_PORT},
            "periodSeconds": max(1, round(run.probe.period_s)), "timeoutSeconds": max(1, round(run.probe.timeout_s)),
        }
    if run.gpus_per_replica > 0:
        container["resources"] = {"limits": {"nvidia.com/gpu": run.gpus_per_replica}}
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "model", "hostPath": {"path": str(run.model_dir), "type": "Directory"}}],
    }
    doc: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": run.name, "namespace": namespace, "labels": labels,
                     "annotations": {"fleetyard.io/model-ref": run.model_ref, "fleetyard.io/gpu-sku": run.gpu_sku}},
        "spec": {
            "replicas": run.replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels, "annotations": {"fleetyard.io/model-ref": run.model_ref}},
                         "spec": pod_spec},
        },
    }
    if run.probe is not None:  # old pods stay until new ones are ready, max_unavailable at a time
        doc["spec"]["strategy"] = {"type": "RollingUpdate",
                                   "rollingUpdate": {"maxSurge": max(run.max_unavailable, 1), "maxUnavailable": 0}}
    return doc


class KubernetesRuntime:
    """Workloads as Deployments (rendered always; applied when a kubeconfig is given)."""

    name = "kubernetes"

    def __init__(self, data_dir: Path, *, site: str, kubeconfig: Path | None = None, namespace: str = "default",
                 image: str = DEFAULT_IMAGE, kubectl: str = "kubectl", status_every: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.dir = data_dir / "kubernetes"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.site, self.kubeconfig, self.namespace, self.image = site, kubeconfig, namespace, image
        self.kubectl, self.status_every, self._now = kubectl, status_every, monotonic
        self._runs: dict[str, WorkloadRun] = {}
        self._errors: dict[str, str] = {}
        self._ready: dict[str, tuple[int, int, int]] = {}  # pods, ready pods, pods of the current template
        self._last_status = -1e9

    def _kubectl(self, *args: str) -> tuple[bool, str]:
        assert self.kubeconfig is not None
        cmd = [self.kubectl, "--kubeconfig", str(self.kubeconfig), *args]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError:
            return False, f"{self.kubectl} not found on PATH"
        except subprocess.TimeoutExpired:
            return False, f"{' '.join(args[:2])} timed out"
        text = (r.stdout if r.returncode == 0 else r.stderr).strip()
        return r.returncode == 0, text

    def apply(self, runs: Sequence[WorkloadRun]) -> None:
        wanted = {r.name: r for r in runs}
        for name in set(self._runs) - set(wanted):
            (self.dir / f"{name}.yaml").unlink(missing_ok=True)
            self._errors.pop(name, None)
            if self.kubeconfig is not None:
                self._kubectl("delete", "deployment", name, "-n", self.namespace, "--ignore-not-found")
        for run in runs:
            path = self.dir / f"{run.name}.yaml"
            text = yaml.safe_dump(render_deployment(run, site=self.site, namespace=self.namespace, image=self.image),
                                  sort_keys=False)
            old = path.read_text(encoding="utf-8") if path.exists() else None
            if old == text and run.name not in self._errors:
                continue
            path.write_text(text, encoding="utf-8")
            if self.kubeconfig is None:
                continue
            ok, out = self._kubectl("apply", "-f", str(path))
            if ok:
                self._errors.pop(run.name, None)
                self._last_status = -1e9
            else:
                self._errors[run.name] = f"kubectl apply failed: {out.splitlines()[-1] if out else 'no output'}"
        self._runs = wanted

    def poll(self) -> None:
        if self.kubeconfig is None or self._now() - self._last_status < self.status_every:
            return
        self._last_status = self._now()
        ok, out = self._kubectl("get", "deployments", "-n", self.namespace, "-o", "json",
                                "-l", f"app.kubernetes.io/managed-by=fleetyard,fleetyard.io/site={_label(self.site)}")
        if not ok:
            for name in self._runs:
                self._errors.setdefault(name, f"kubectl get failed: {out[:200]}")
            return
        try:
            items = json.loads(out).get("items", [])
        except ValueError:
            return
        self._ready = {
            i["metadata"]["name"]: (int(i.get("status", {}).get("replicas", 0) or 0),
                                    int(i.get("status", {}).get("readyReplicas", 0) or 0),
                                    int(i.get("status", {}).get("updatedReplicas", 0) or 0))
            for i in items
        }

    def status(self) -> dict[str, ReplicaCounts]:
        out = {}
        for name, run in self._runs.items():
            running, ready, updated = self._ready.get(name, (0, 0, 0))
            error = self._errors.get(name)
            if self.kubeconfig is None:
                error = f"rendered to {self.dir / (name + '.yaml')}; not applied (no --kubeconfig)"
            old = max(running - updated, 0)  # pods of the template before; ready, with maxUnavailable 0
            out[name] = ReplicaCounts(run.replicas, running, ready, 0, error, run.model_ref,
                                      model_running=updated, model_ready=max(0, min(updated, ready - old)),
                                      switching=old)
        return out

    def endpoints(self) -> list[Endpoint]:
        """None: the kubelet probes the pods (readinessProbe)."""
        return []

    def stop(self) -> None:
        """Deployments stay: Kubernetes keeps running them without the agent."""
        self._runs = {}
