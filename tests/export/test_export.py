"""`fleetyard export`: the example fleet's manifests validate, are byte-stable, and carry the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.export import GPU_PRODUCT_LABELS, dns_name, gpu_selector, karmada_files, kubernetes_files
from fleetyard.export.manifests import deployment
from fleetyard.spec import CATALOG
from fleetyard.spec.loader import load_fleet
from fleetyard.spec.models import WorkloadSpec
from fleetyard.spec.plan import Plan
from tests.export.karmada_schema import SCHEMAS

KUBERNETES_VERSION = "1.30.0"  # the schemas kubernetes-validate ships for this release
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    assert "Traceback" not in r.stdout + r.stderr
    return r.exit_code, r.stdout, r.stderr


def _read(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    code, out, _ = _run("plan", str(EXAMPLE), "-o", "json")
    assert code == 0
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    path.write_text(out)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, plan_json: Path) -> dict[str, dict[str, bytes]]:
    """Each target exported twice: once planning, once from the plan JSON."""
    root = tmp_path_factory.mktemp("export")
    runs: dict[str, dict[str, bytes]] = {}
    for to in ("kubernetes", "karmada"):
        for how, extra in (("planned", []), ("from-plan", ["--plan", str(plan_json)])):
            out = root / f"{to}-{how}"
            code, _, err = _run("export", str(EXAMPLE), "--to", to, "-o", str(out), *extra)
            assert code == 0, err
            runs[f"{to}-{how}"] = _read(out)
    return runs


def _docs(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {name: yaml.safe_load(data) for name, data in files.items()}


def _plan(plan_json: Path) -> Plan:
    return Plan.model_validate_json(plan_json.read_text())


def test_same_plan_same_bytes(exported: dict[str, dict[str, bytes]]) -> None:
    for to in ("kubernetes", "karmada"):
        planned, from_plan = exported[f"{to}-planned"], exported[f"{to}-from-plan"]
        assert planned and list(planned) == list(from_plan)
        assert [n for n in planned if planned[n] != from_plan[n]] == []


def test_no_yaml_anchors(exported: dict[str, dict[str, bytes]]) -> None:
    bad = [f"{run}/{n}" for run, files in exported.items() for n, data in files.items()
           if b"&id" in data or b"*id" in data]
    assert bad == []


def test_kubernetes_objects_validate(exported: dict[str, dict[str, bytes]]) -> None:
    kinds: set[str] = set()
    for run in ("kubernetes-planned", "karmada-planned"):
        for doc in _docs(exported[run]).values():
            if doc["kind"] in ("Deployment", "Service"):
                kinds.add(doc["kind"])
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert kinds == {"Deployment", "Service"}


def test_invalid_deployment_is_rejected_by_the_validator() -> None:
    """The check above can fail: a wrong field type is an error."""
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {}, "template": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_karmada_objects_validate(exported: dict[str, dict[str, bytes]]) -> None:
    seen = {"PropagationPolicy": 0, "OverridePolicy": 0}
    for doc in _docs(exported["karmada-planned"]).values():
        if doc["kind"] in SCHEMAS:
            jsonschema.validate(doc, SCHEMAS[doc["kind"]])
            seen[doc["kind"]] += 1
    assert seen["PropagationPolicy"] == seen["OverridePolicy"] > 0
    misspelt = {"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy", "metadata": {"name": "x"},
                "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
                         "placement": {"replicaScheduling": {"replicaSchedulingType": "Split"}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(misspelt, SCHEMAS["PropagationPolicy"])


def test_static_weights_are_the_plan(exported: dict[str, dict[str, bytes]], plan_json: Path) -> None:
    want: dict[str, dict[str, int]] = {}
    for a in _plan(plan_json).assignments:
        if a.replicas:
            sites = want.setdefault(a.workload, {})
            sites[a.site] = sites.get(a.site, 0) + a.replicas
    docs = _docs(exported["karmada-planned"])
    got: dict[str, dict[str, int]] = {}
    for doc in docs.values():
        if doc["kind"] == "PropagationPolicy":
            placement = doc["spec"]["placement"]
            weights = {w["targetCluster"]["clusterNames"][0]: w["weight"]
                       for w in placement["replicaScheduling"]["weightPreference"]["staticWeightList"]}
            assert placement["clusterAffinity"]["clusterNames"] == sorted(weights)
            got[doc["metadata"]["name"]] = weights
            deployment = docs[f"{doc['metadata']['name']}-deployment.yaml"]
            assert deployment["spec"]["replicas"] == sum(weights.values())
    assert got == want


def test_kubernetes_site_folders_carry_the_plan(exported: dict[str, dict[str, bytes]], plan_json: Path) -> None:
    files = exported["kubernetes-planned"]
    docs = _docs(files)
    placed = [a for a in _plan(plan_json).assignments if a.replicas]
    skus = {(a.site, a.workload): sum(1 for b in placed if (b.site, b.workload) == (a.site, a.workload))
            for a in placed}
    assert max(skus.values()) > 1  # the example has a workload on two SKUs at one site
    for a in placed:
        obj = a.workload if skus[a.site, a.workload] == 1 else dns_name(f"{a.workload}-{a.gpu_sku}")
        dep = docs[f"{a.site}/{obj}-deployment.yaml"]  # example names are DNS labels already
        assert dep["spec"]["replicas"] == a.replicas
        pod = dep["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == gpu_selector(a.gpu_sku)
        c = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["FLEETYARD_SITE"] == a.site and env["FLEETYARD_PORT"] == "8080"
        assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert dep["metadata"]["labels"]["fleetyard.io/site"] == a.site
        kustom = docs[f"{a.site}/kustomization.yaml"]["resources"]
        assert f"{obj}-deployment.yaml" in kustom and f"{a.workload}-service.yaml" in kustom
    for name, doc in docs.items():
        if name.endswith("kustomization.yaml"):
            folder = name.rsplit("/", 1)[0]
            assert sorted(doc["resources"]) == sorted(n.split("/", 1)[1] for n in files
                                                      if n.startswith(f"{folder}/") and n != name)


def test_every_catalog_sku_has_a_product_label() -> None:
    assert sorted(GPU_PRODUCT_LABELS) == sorted(CATALOG)
    assert gpu_selector("MI300X") == {"amd.com/gpu.product-name": "AMD_Instinct_MI300X"}
    assert gpu_selector("H100-SXM") == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}


def test_assignment_order_does_not_change_bytes(plan_json: Path) -> None:
    plan = _plan(plan_json)
    shuffled = plan.model_copy(update={"assignments": list(reversed(plan.assignments))})
    specs = {n: w.spec for n, w in load_fleet([EXAMPLE]).fleet.workloads.items()}
    assert kubernetes_files(plan, specs) == kubernetes_files(shuffled, specs)
    assert karmada_files(plan, specs) == karmada_files(shuffled, specs)


@pytest.mark.parametrize("case", ["unknown-to", "missing-dir", "invalid-spec", "out-is-a-file", "out-under-a-file",
                                  "bad-plan"])
def test_cli_errors_exit_2_with_one_line(case: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["export", str(EXAMPLE), "--to", "kubernetes", "-o", str(out)]
    if case == "unknown-to":
        args[3] = "nomad"
    elif case == "missing-dir":
        args[1] = str(tmp_path / "nowhere")
    elif case == "invalid-spec":
        bad = tmp_path / "bad.yaml"
        bad.write_text("apiVersion: fleetyard/v1\nkind: Workload\nmetadata: {name: w}\nspec: {type: nope}\n")
        args[1] = str(bad)
    elif case == "out-is-a-file":
        out.write_text("x")
    elif case == "out-under-a-file":
        out.write_text("x")
        args[5] = str(out / "sub")
    else:
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"assignments": "none"}))
        args += ["--plan", str(plan)]
    code, stdout, stderr = _run(*args)
    assert code == 2
    assert stderr.strip() and "wrote" not in stdout
    if case == "invalid-spec":  # every problem on its line (file:line field), then the count
        assert "bad.yaml:4 spec.type" in stderr and "nothing was planned" in stderr
    else:
        assert len(stderr.strip().splitlines()) == 1, stderr
    assert not (out.is_dir() and any(out.iterdir()))


def test_override_rules_give_each_site_its_values(exported: dict[str, dict[str, bytes]], plan_json: Path) -> None:
    """Applying each site's plaintext overriders to the template gives that site's Kubernetes values."""
    docs = _docs(exported["karmada-planned"])
    site_docs = _docs(exported["kubernetes-planned"])
    sku_changes = 0
    for name, doc in docs.items():
        if doc["kind"] != "OverridePolicy":
            continue
        template = docs[name.replace("-overridepolicy", "-deployment")]
        for rule in doc["spec"]["overrideRules"]:
            site = rule["targetCluster"]["clusterNames"][0]
            pod = json.loads(json.dumps(template["spec"]["template"]["spec"]))
            for op in rule["overriders"]["plaintext"]:
                parts = op["path"].split("/")[1:]
                if parts[:3] != ["spec", "template", "spec"]:
                    continue
                target: Any = pod
                for part in parts[3:-1]:
                    target = target[int(part)] if isinstance(target, list) else target[part]
                last = parts[-1]
                target[int(last) if isinstance(target, list) else last] = op["value"]
                sku_changes += last == "nodeSelector"
            env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
            assert env["FLEETYARD_SITE"] == site
            local = [d for n, d in site_docs.items() if n.startswith(f"{site}/")
                     and d["kind"] == "Deployment" and d["metadata"]["labels"]["fleetyard.io/workload"]
                     == template["metadata"]["name"]]
            assert pod["nodeSelector"] in [d["spec"]["template"]["spec"]["nodeSelector"] for d in local]
    assert sku_changes > 0  # the example has a workload on different SKUs at different sites


def test_probes_command_and_amd_gpus_from_the_spec() -> None:
    spec = WorkloadSpec.model_validate({
        "type": "inference", "model": "llm:2", "command": ["python", "serve.py"], "replica": {"gpus": 4},
        "env": {"FLEETYARD_IMAGE": "ghcr.io/acme/serve:1", "MODE": "fast"},
        "rollout": {"health": {"probe": {"http": "/ready", "period_s": 7, "timeout_s": 3}}}})
    doc = deployment("Chat_Big", spec, site="fra-1", sku="MI300X", replicas=3)
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    c = doc["spec"]["template"]["spec"]["containers"][0]
    assert doc["metadata"]["name"] == "chat-big" and c["image"] == "ghcr.io/acme/serve:1"
    assert c["command"] == ["python", "serve.py"] and c["resources"]["limits"] == {"amd.com/gpu": 4}
    want = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 7, "timeoutSeconds": 3}
    assert c["readinessProbe"] == want and c["livenessProbe"] == {**want, "failureThreshold": 3}
    assert [e["name"] for e in c["env"]][-1:] == ["MODE"]
    assert doc["spec"]["template"]["spec"]["nodeSelector"] == {"amd.com/gpu.product-name": "AMD_Instinct_MI300X"}
