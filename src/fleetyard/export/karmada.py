"""Plan -> Karmada objects: per workload a Deployment template, a PropagationPolicy and an OverridePolicy.

Member cluster name = site name. The PropagationPolicy pins the plan's sites
(`clusterAffinity.clusterNames`) and divides the replicas with static weights equal to
the plan's replicas per site. The template carries the first site's values; the
OverridePolicy replaces, per site, what differs there (the site env value, and the GPU
nodeSelector and resources when the SKU differs). A workload on several SKUs at one
site is exported with that site's largest SKU group (see docs/export.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetyard.export.manifests import (
    deployment,
    dns_name,
    gpu_resources,
    gpu_selector,
    kustomization,
    labels,
    service,
    to_yaml,
)
from fleetyard.spec.models import WorkloadSpec
from fleetyard.spec.plan import Plan

POLICY_API = "policy.karmada.io/v1alpha1"
SITE_ENV_INDEX = 3  # FLEETYARD_SITE's place in the container env (manifests._env)


def _per_workload(plan: Plan) -> dict[str, dict[str, tuple[str, int]]]:
    """workload -> site -> (dominant SKU, replicas at the site), sorted by name."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for a in plan.assignments:
        if a.replicas > 0:
            skus = counts.setdefault(a.workload, {}).setdefault(a.site, {})
            skus[a.gpu_sku] = skus.get(a.gpu_sku, 0) + a.replicas
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for w in sorted(counts):
        out[w] = {}
        for site in sorted(counts[w]):
            skus = counts[w][site]
            top = sorted(skus.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            out[w][site] = (top, sum(skus.values()))
    return out


def _selector(kind: str, api: str, name: str) -> dict[str, str]:
    return {"apiVersion": api, "kind": kind, "name": name}


def propagation_policy(workload: str, sites: Mapping[str, tuple[str, int]]) -> dict[str, Any]:
    name = dns_name(workload)
    return {
        "apiVersion": POLICY_API,
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "labels": labels(workload, None)},
        "spec": {
            "resourceSelectors": [_selector("Deployment", "apps/v1", name), _selector("Service", "v1", name)],
            "placement": {
                "clusterAffinity": {"clusterNames": list(sites)},
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"staticWeightList": [
                        {"targetCluster": {"clusterNames": [site]}, "weight": n} for site, (_, n) in sites.items()]},
                },
            },
        },
    }


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"path": path, "operator": "replace", "value": value}


def override_policy(workload: str, sites: Mapping[str, tuple[str, int]], gpus: int) -> dict[str, Any]:
    name = dns_name(workload)
    template_sku = next(iter(sites.values()))[0]
    rules = []
    for site, (sku, _) in sites.items():
        plaintext = [_replace(f"/spec/template/spec/containers/0/env/{SITE_ENV_INDEX}/value", site)]
        if sku != template_sku:
            plaintext += [_replace("/spec/template/spec/nodeSelector", gpu_selector(sku)),
                          _replace("/spec/template/spec/containers/0/resources", gpu_resources(sku, gpus)),
                          _replace("/metadata/annotations/fleetyard.io~1gpu-sku", sku)]
        rules.append({"targetCluster": {"clusterNames": [site]}, "overriders": {"plaintext": plaintext}})
    return {
        "apiVersion": POLICY_API,
        "kind": "OverridePolicy",
        "metadata": {"name": name, "labels": labels(workload, None)},
        "spec": {"resourceSelectors": [_selector("Deployment", "apps/v1", name)], "overrideRules": rules},
    }


def karmada_files(plan: Plan, workloads: Mapping[str, WorkloadSpec]) -> dict[str, bytes]:
    """Relative path -> bytes: per workload its Deployment, Service and two policies, and `kustomization.yaml`."""
    files: dict[str, bytes] = {}
    names: list[str] = []
    for wname, sites in _per_workload(plan).items():
        spec = workloads[wname]
        first_site, (sku, _) = next(iter(sites.items()))
        total = sum(n for _, n in sites.values())
        obj = dns_name(wname)
        docs = {
            "deployment": deployment(wname, spec, site=first_site, sku=sku, replicas=total, site_label=False),
            "service": service(wname, site=None),
            "propagationpolicy": propagation_policy(wname, sites),
            "overridepolicy": override_policy(wname, sites, spec.replica.gpus),
        }
        for kind, doc in docs.items():
            names.append(f"{obj}-{kind}.yaml")
            files[names[-1]] = to_yaml(doc)
    files["kustomization.yaml"] = to_yaml(kustomization(names))
    return dict(sorted(files.items()))
