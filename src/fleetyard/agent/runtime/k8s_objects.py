"""The Kubernetes objects of one workload run: a Deployment that runs and a Service.

Built from the same pieces as `fleetyard export --to kubernetes` (export/manifests.py), so a
site run by the agent and a site run from exported manifests look the same:

* GPUs as `nvidia.com/gpu` or `amd.com/gpu` requests = limits, by the SKU's vendor;
* a nodeSelector on the label GPU operators set (`nvidia.com/gpu.product` from NVIDIA's
  GPU Feature Discovery, `amd.com/gpu.product-name` from AMD's node labeller; the table
  is `export.manifests.GPU_PRODUCT_LABELS`);
* the container port `http` (FLEETYARD_PORT, always given), readiness and liveness
  probes from the workload's `health.probe` (liveness more lenient: 3 misses), a
  ClusterIP Service on `http`;
* every FLEETYARD_* value the process runtime gives (MODEL_DIR, MODEL, WORKLOAD, SITE,
  PORT, REPLICA from the pod name);
* the verified model folder read-only: from a PersistentVolumeClaim holding the agent's
  data dir (`--model-pvc`, mounted with subPath = the folder inside the data dir), else a
  hostPath (the agent runs on the node, or the data dir is shared storage);
* a rolling update that keeps old pods until new ones are ready when there is a probe;
* the workload's `secret_env` (issue 14, docs/secrets.md) as a Kubernetes Secret of its
  own (`<workload>-env`, one key per variable) and `secretKeyRef`s, never a plain value in
  the Deployment; the pod template's `fleetyard.io/secret-digest` (the server's digests)
  changes with a value, so Kubernetes rolls the pods onto it.

Plain dicts with a fixed key order; `export.manifests.to_yaml` writes them without anchors.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from fleetyard.agent.runtime.base import WorkloadRun
from fleetyard.export.manifests import (
    MODEL_MOUNT,
    PORT,
    dns_name,
    gpu_resources,
    gpu_selector,
    label_value,
    labels,
)

__all__ = ["DEFAULT_IMAGE", "MANAGED_SELECTOR", "model_volume", "render_deployment", "render_secret", "render_service",
           "secret_name"]

DEFAULT_IMAGE = "python:3.11-slim"
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=fleetyard"


def _selector(run: WorkloadRun, site: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": label_value(run.name), "fleetyard.io/site": label_value(site)}


def model_volume(run: WorkloadRun, *, data_dir: Path | None = None, model_pvc: str | None = None) -> dict[str, Any]:
    """The volume holding the verified model folder: a claim on the data dir, else a hostPath."""
    if model_pvc and data_dir is not None:
        return {"name": "model", "persistentVolumeClaim": {"claimName": model_pvc, "readOnly": True}}
    return {"name": "model", "hostPath": {"path": str(run.model_dir), "type": "Directory"}}


def _mount(run: WorkloadRun, mount: str, *, data_dir: Path | None, model_pvc: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": "model", "mountPath": mount, "readOnly": True}
    if model_pvc and data_dir is not None:
        try:
            out["subPath"] = str(run.model_dir.resolve().relative_to(data_dir.resolve()))
        except ValueError:
            out["subPath"] = str(run.model_dir)
    return out


def _probes(run: WorkloadRun) -> dict[str, Any]:
    if run.probe is None:
        return {}
    check = {"httpGet": {"path": run.probe.http, "port": "http"},
             "periodSeconds": max(1, round(run.probe.period_s)), "timeoutSeconds": max(1, round(run.probe.timeout_s))}
    return {"readinessProbe": dict(check), "livenessProbe": {**check, "failureThreshold": 3}}


def render_deployment(run: WorkloadRun, *, site: str, namespace: str = "default", image: str = DEFAULT_IMAGE,
                      data_dir: Path | None = None, model_pvc: str | None = None) -> dict[str, Any]:
    """The Deployment that runs `run` at `site` (a plain dict, ready for YAML or the API)."""
    model_name, _, version = run.model_ref.partition(":")
    env = run.env_dict
    image = env.pop("FLEETYARD_IMAGE", image)
    mount = f"{MODEL_MOUNT}/{model_name}"
    selector = _selector(run, site)
    pod_labels = {**selector, **{k: v for k, v in labels(run.name, site).items() if k not in selector},
                  "fleetyard.io/model": label_value(model_name), "fleetyard.io/model-version": label_value(version)}
    fixed = [("FLEETYARD_MODEL_DIR", mount), ("FLEETYARD_MODEL", run.model_ref), ("FLEETYARD_WORKLOAD", run.name),
             ("FLEETYARD_SITE", site), ("FLEETYARD_PORT", str(PORT))]
    taken = {k for k, _ in fixed} | {"FLEETYARD_REPLICA"}
    container: dict[str, Any] = {"name": dns_name(run.name), "image": image}
    if run.command:
        container["command"] = list(run.command)
    container["ports"] = [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    from_secret = [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name(run), "key": k}}}
                   for k, _ in sorted(run.secret_env) if k not in taken]
    container["env"] = ([{"name": k, "value": v} for k, v in sorted(env.items()) if k not in taken]
                        + from_secret + [{"name": k, "value": v} for k, v in fixed]
                        + [{"name": "FLEETYARD_REPLICA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
    if run.gpus_per_replica > 0:
        container["resources"] = gpu_resources(run.gpu_sku, run.gpus_per_replica)
    container["volumeMounts"] = [_mount(run, mount, data_dir=data_dir, model_pvc=model_pvc)]
    container.update(_probes(run))
    pod_spec: dict[str, Any] = {}
    if run.gpus_per_replica > 0 and run.gpu_sku:
        pod_spec["nodeSelector"] = gpu_selector(run.gpu_sku)
    pod_spec["containers"] = [container]
    pod_spec["volumes"] = [model_volume(run, data_dir=data_dir, model_pvc=model_pvc)]
    spec: dict[str, Any] = {"replicas": run.replicas, "selector": {"matchLabels": selector}}
    if run.probe is not None:  # old pods stay until new ones are ready, max_unavailable at a time
        spec["strategy"] = {"type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": max(run.max_unavailable, 1), "maxUnavailable": 0}}
    template_notes = {"fleetyard.io/model-ref": run.model_ref}
    if run.secret_env:
        template_notes["fleetyard.io/secret-digest"] = run.secret_digest
    spec["template"] = {"metadata": {"labels": pod_labels, "annotations": template_notes}, "spec": pod_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": dns_name(run.name), "namespace": namespace, "labels": pod_labels,
                     "annotations": {"fleetyard.io/model-ref": run.model_ref, "fleetyard.io/gpu-sku": run.gpu_sku,
                                     "fleetyard.io/workload": run.name}},
        "spec": spec,
    }


def secret_name(run: WorkloadRun) -> str:
    """The Kubernetes Secret holding a workload's `secret_env` values."""
    return f"{dns_name(run.name)[:59].rstrip('-')}-env"


def render_secret(run: WorkloadRun, *, site: str, namespace: str = "default") -> dict[str, Any] | None:
    """The Secret with the workload's variables from Secrets (None: it has none)."""
    if not run.secret_env:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(run), "namespace": namespace, "labels": labels(run.name, site),
                     "annotations": {"fleetyard.io/workload": run.name,
                                     "fleetyard.io/secret-digest": run.secret_digest}},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode("ascii") for k, v in sorted(run.secret_env)},
    }


def render_service(run: WorkloadRun, *, site: str, namespace: str = "default") -> dict[str, Any]:
    """The ClusterIP Service in front of the workload's ready pods (port `http`)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": dns_name(run.name), "namespace": namespace, "labels": labels(run.name, site)},
        "spec": {"type": "ClusterIP", "selector": _selector(run, site),
                 "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]},
    }
