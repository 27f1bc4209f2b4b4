"""The kubernetes runtime renders one Deployment per workload (tested by rendering)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from fleetyard.agent.runtime import KubernetesRuntime, WorkloadRun, render_deployment


def run(model_dir: Path, **kw: object) -> WorkloadRun:
    args: dict[str, object] = {
        "name": "support-chat-eu", "model_ref": "support-llm:3", "model_dir": model_dir, "replicas": 2,
        "command": ("python", "-m", "server"), "env": (("LOG_LEVEL", "info"), ("FLEETYARD_IMAGE", "reg/chat:1.2")),
        "gpu_sku": "H100-SXM", "gpus_per_replica": 1,
    }
    args.update(kw)
    return WorkloadRun(**args)  # type: ignore[arg-type]


def test_render_deployment(tmp_path: Path) -> None:
    doc = render_deployment(run(tmp_path / "models" / "support-llm" / "3"), site="fra-1", namespace="ai")
    assert doc["apiVersion"] == "apps/v1" and doc["kind"] == "Deployment"
    assert doc["metadata"]["name"] == "support-chat-eu" and doc["metadata"]["namespace"] == "ai"
    spec = doc["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "reg/chat:1.2"
    assert c["command"] == ["python", "-m", "server"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["LOG_LEVEL"] == "info" and "FLEETYARD_IMAGE" not in env
    assert env["FLEETYARD_MODEL_DIR"] == "/models/support-llm" and env["FLEETYARD_MODEL"] == "support-llm:3"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert c["volumeMounts"] == [{"name": "model", "mountPath": "/models/support-llm", "readOnly": True}]
    assert pod["volumes"][0]["hostPath"]["path"] == str(tmp_path / "models" / "support-llm" / "3")
    labels = doc["metadata"]["labels"]
    assert labels["fleetyard.io/model-version"] == "3" and labels["app.kubernetes.io/managed-by"] == "fleetyard"
    assert spec["template"]["metadata"]["annotations"]["fleetyard.io/model-ref"] == "support-llm:3"


def test_no_gpu_no_command_uses_default_image(tmp_path: Path) -> None:
    doc = render_deployment(run(tmp_path, command=None, gpus_per_replica=0, env=()), site="edge 1!")
    (c,) = doc["spec"]["template"]["spec"]["containers"]
    assert "command" not in c and "resources" not in c
    assert c["image"] == "python:3.11-slim"
    assert doc["spec"]["selector"]["matchLabels"]["fleetyard.io/site"] == "edge-1"


def test_rendered_without_kubeconfig_and_applied_with_one(tmp_path: Path) -> None:
    rt = KubernetesRuntime(tmp_path / "d1", site="fra-1")
    rt.apply([run(tmp_path / "m")])
    path = tmp_path / "d1" / "kubernetes" / "support-chat-eu.yaml"
    assert yaml.safe_load(path.read_text())["kind"] == "Deployment"
    st = rt.status()["support-chat-eu"]
    assert (st.desired, st.running) == (2, 0) and st.error is not None and "not applied" in st.error
    rt.apply([])
    assert not path.exists()

    # with a kubeconfig, kubectl is called: a stand-in kubectl on PATH records its arguments
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'case "$*" in *"get deployments"*) echo \'{"items": [{"metadata": {"name": "support-chat-eu"}, '
        '"status": {"replicas": 2, "readyReplicas": 1}}]}\';; esac\n'
    )
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    rt2 = KubernetesRuntime(tmp_path / "d2", site="fra-1", kubeconfig=kubeconfig, kubectl=str(kubectl))
    rt2.apply([run(tmp_path / "m")])
    rt2.apply([run(tmp_path / "m")])  # unchanged: not applied again
    rt2.poll()
    st = rt2.status()["support-chat-eu"]
    assert (st.desired, st.running, st.healthy, st.error) == (2, 2, 1, None)
    rt2.apply([])
    calls = log.read_text().splitlines()
    assert sum("apply -f" in c for c in calls) == 1
    assert any("delete deployment support-chat-eu" in c for c in calls)
    assert all(c.startswith(f"--kubeconfig {kubeconfig}") for c in calls)
    assert os.access(kubectl, os.X_OK)
