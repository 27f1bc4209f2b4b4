"""Plan -> per-site Kubernetes objects (Deployment + Service per workload and SKU), as YAML.

Every object is built with a fixed key order and dumped without anchors, so the same
plan gives the same bytes. A site folder holds `kustomization.yaml` listing its files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from fleetyard.spec import CATALOG
from fleetyard.spec.models import WorkloadSpec
from fleetyard.spec.plan import Assignment, Plan

PORT = 8080  # the container's `http` port, given as FLEETYARD_PORT
DEFAULT_IMAGE = "python:3.11-slim"  # as the agent's kubernetes runtime; env FLEETYARD_IMAGE overrides
MODEL_MOUNT = "/models"
MANAGED_BY = "fleetyard"

# Catalog SKU -> the node label value GPU operators set: NVIDIA GPU Feature Discovery's
# `nvidia.com/gpu.product`, AMD's device-plugin node labeller `amd.com/gpu.product-name`.
GPU_PRODUCT_LABELS: dict[str, str] = {
    "H100-SXM": "NVIDIA-H100-80GB-HBM3",
    "H100-PCIE": "NVIDIA-H100-PCIe",
    "H200": "NVIDIA-H200",
    "B200": "NVIDIA-B200",
    "A100-80GB": "NVIDIA-A100-SXM4-80GB",
    "L40S": "NVIDIA-L40S",
    "L4": "NVIDIA-L4",
    "A10G": "NVIDIA-A10G",
    "MI300X": "AMD_Instinct_MI300X",
}
NVIDIA_PRODUCT_KEY = "nvidia.com/gpu.product"
AMD_PRODUCT_KEY = "amd.com/gpu.product-name"


class _NoAliases(yaml.SafeDumper):
    """A dumper that never writes `&id001` anchors: repeated values are written out."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(doc: Mapping[str, Any] | list[Any]) -> bytes:
    """YAML in the data's own key order, without anchors (also the CLI's `-o yaml`)."""
    data = dict(doc) if isinstance(doc, Mapping) else doc
    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=4096).encode()


def dns_name(value: str) -> str:
    """A DNS-1123 label (lowercase alphanumerics and '-', 63 chars) for object names."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", value.lower())[:63].strip("-")
    return cleaned or "x"


def label_value(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63]
    return cleaned.strip("-_.") or "x"


def is_amd(sku: str) -> bool:
    model = CATALOG.get(sku)
    return model is not None and model.vendor == "AMD"


def gpu_selector(sku: str) -> dict[str, str]:
    """The nodeSelector that keeps pods on nodes with this SKU (unknown SKUs: the SKU itself)."""
    key = AMD_PRODUCT_KEY if is_amd(sku) else NVIDIA_PRODUCT_KEY
    return {key: GPU_PRODUCT_LABELS.get(sku, label_value(sku))}


def gpu_resources(sku: str, gpus: int) -> dict[str, Any]:
    resource = "amd.com/gpu" if is_amd(sku) else "nvidia.com/gpu"
    return {"limits": {resource: gpus}, "requests": {resource: gpus}}


def labels(workload: str, site: str | None) -> dict[str, str]:
    out = {"app.kubernetes.io/name": label_value(workload), "app.kubernetes.io/managed-by": MANAGED_BY}
    if site is not None:
        out["fleetyard.io/site"] = label_value(site)
    out["fleetyard.io/workload"] = label_value(workload)
    return out


def _selector(workload: str, site: str | None) -> dict[str, str]:
    return {k: v for k, v in labels(workload, site).items() if k != "app.kubernetes.io/managed-by"}


def _env(name: str, spec: WorkloadSpec, site: str) -> list[dict[str, Any]]:
    """The process runtime's FLEETYARD_* values, then the workload's own env (sorted), then its
    `secret_env` as `secretKeyRef`s to a Kubernetes Secret named as the fleetyard Secret."""
    model_dir = f"{MODEL_MOUNT}/{spec.model.split(':', 1)[0]}"
    fixed = [("FLEETYARD_MODEL_DIR", model_dir), ("FLEETYARD_MODEL", spec.model), ("FLEETYARD_WORKLOAD", name),
             ("FLEETYARD_SITE", site), ("FLEETYARD_PORT", str(PORT))]
    taken = {k for k, _ in fixed} | {"FLEETYARD_IMAGE", "FLEETYARD_REPLICA"}
    own = [(k, v) for k, v in sorted(spec.env.items()) if k not in taken]
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in fixed]
    env.append({"name": "FLEETYARD_REPLICA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    env.extend({"name": k, "value": v} for k, v in own)
    # issue 14 (docs/secrets.md): a Kubernetes Secret of the fleetyard Secret's name and keys, never a value
    env.extend({"name": k, "valueFrom": {"secretKeyRef": {"name": dns_name(ref.secret), "key": ref.key}}}
               for k, ref in sorted(spec.secret_env.items()) if k not in taken)
    return env


def _container(name: str, spec: WorkloadSpec, site: str, sku: str) -> dict[str, Any]:
    model_dir = f"{MODEL_MOUNT}/{spec.model.split(':', 1)[0]}"
    c: dict[str, Any] = {"name": dns_name(name), "image": spec.env.get("FLEETYARD_IMAGE", DEFAULT_IMAGE)}
    if spec.command:
        c["command"] = list(spec.command)
    c["ports"] = [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    c["env"] = _env(name, spec, site)
    c["resources"] = gpu_resources(sku, spec.replica.gpus)
    c["volumeMounts"] = [{"name": "model", "mountPath": model_dir, "readOnly": True}]
    probe = spec.rollout.health.probe
    if probe is not None:
        check = {"httpGet": {"path": probe.http, "port": "http"},
                 "periodSeconds": max(1, round(probe.period_s)), "timeoutSeconds": max(1, round(probe.timeout_s))}
        c["readinessProbe"] = dict(check)
        c["livenessProbe"] = {**check, "failureThreshold": 3}
    return c


def deployment(name: str, spec: WorkloadSpec, *, site: str, sku: str, replicas: int,
               object_name: str | None = None, site_label: bool = True) -> dict[str, Any]:
    """The Deployment running `replicas` of workload `name` on `sku` nodes at `site`."""
    label_site = site if site_label else None
    pod_labels = labels(name, label_site)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": object_name or dns_name(name), "labels": pod_labels,
                     "annotations": {"fleetyard.io/model-ref": spec.model, "fleetyard.io/gpu-sku": sku}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _selector(name, label_site)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {"fleetyard.io/model-ref": spec.model}},
                "spec": {
                    "nodeSelector": gpu_selector(sku),
                    "containers": [_container(name, spec, site, sku)],
                    "volumes": [{"name": "model", "persistentVolumeClaim": {
                        "claimName": f"model-{dns_name(spec.model.split(':', 1)[0])}", "readOnly": True}}],
                },
            },
        },
    }


def service(name: str, *, site: str | None, object_name: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": object_name or dns_name(name), "labels": labels(name, site)},
        "spec": {"type": "ClusterIP", "selector": _selector(name, site),
                 "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]},
    }


def kustomization(files: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": files}


def by_site(plan: Plan) -> dict[str, dict[str, list[Assignment]]]:
    """site -> workload -> its assignments there, sorted by name and SKU (input order does not matter)."""
    out: dict[str, dict[str, list[Assignment]]] = {}
    for a in sorted(plan.assignments, key=lambda a: (a.site, a.workload, a.gpu_sku)):
        if a.replicas > 0:
            out.setdefault(a.site, {}).setdefault(a.workload, []).append(a)
    return out


def kubernetes_files(plan: Plan, workloads: Mapping[str, WorkloadSpec]) -> dict[str, bytes]:
    """Relative path -> bytes: `<site>/kustomization.yaml` and a Deployment and Service per workload there.

    A workload placed on two SKUs at one site gets one Deployment per SKU (`<name>-<sku>`)
    behind one Service."""
    files: dict[str, bytes] = {}
    for site, placed in by_site(plan).items():
        names: list[str] = []
        for wname, assigns in placed.items():
            spec = workloads[wname]
            for a in assigns:
                obj = dns_name(wname if len(assigns) == 1 else f"{wname}-{a.gpu_sku}")
                names.append(f"{obj}-deployment.yaml")
                files[f"{dns_name(site)}/{names[-1]}"] = to_yaml(
                    deployment(wname, spec, site=site, sku=a.gpu_sku, replicas=a.replicas, object_name=obj))
            names.append(f"{dns_name(wname)}-service.yaml")
            files[f"{dns_name(site)}/{names[-1]}"] = to_yaml(service(wname, site=site))
        files[f"{dns_name(site)}/kustomization.yaml"] = to_yaml(kustomization(names))
    return dict(sorted(files.items()))
